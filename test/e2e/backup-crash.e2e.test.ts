import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentStateClient, JsonEventCodec } from '../../src/client/index.js';
import { SqliteEventLog } from '../../src/log/sqlite/index.js';
import { topicSpecs } from '../../src/log/topics.js';
import { FsBlobStore } from '../../src/blob/fs.js';
import { verifyBackup } from '../../src/backup/index.js';
import { repoRoot } from '../support/kill-child.js';
import { expectExactCoverage } from '../unit/backup/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-backup-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function startService(env: Record<string, string>): { child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; stderr: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'services/backup/main.ts')], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  return { child, exited, stderr: () => err };
}

async function fetchArchived(dataDir: string): Promise<number> {
  const blobs = new FsBlobStore({ dir: join(dataDir, 'blobs') });
  let n = 0;
  for await (const b of blobs.list('backup/events/')) if (b.key.includes('/manifest/')) n++;
  return n;
}

describe('backup service survives kill -9 under a write load (embedded profile)', () => {
  it('after 10 SIGKILLs and a SIGTERM, every offset of every partition is in exactly one segment and verify --deep passes', async () => {
    const prefix = 'e2e.';
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite'), pollIntervalMs: 20 });
    await log.setup(topicSpecs({ prefix, partitions: 4 }));
    const codec = new JsonEventCodec();
    const ids = Array.from({ length: 40 }, (_, i) => `agent-${i}`);
    const writer = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, bootstrap: false });
    await Promise.all(ids.map((id) => writer.createAgent(id, { agentType: 'worker' })));
    let writing = true;
    let written = ids.length;
    const load = (async () => {
      for (let n = 0; writing; n++) {
        await Promise.all(ids.map((id) => writer.updateState(id, (d) => void (d.memory[`k${n % 50}`] = `${id}:${n}:${'y'.repeat(n % 90)}`))));
        written += ids.length;
        await sleep(100); // ~400 events/s: a steady load the fsyncing file-system blob store keeps up with
      }
    })();
    const port = await freePort();
    const env = {
      AGENTSTATE_DATA_DIR: dir,
      AGENTSTATE_TOPIC_PREFIX: prefix,
      BACKUP_SEGMENT_MAX_BYTES: '16000',
      BACKUP_SEGMENT_MAX_AGE_MS: '150',
      BACKUP_TICK_MS: '50',
      METRICS_PORT: String(port),
      LOG_LEVEL: 'warn',
      KAFKA_BROKERS: '',
    };
    try {
      const kills = 10;
      for (let i = 0; i < kills; i++) {
        const before = await fetchArchived(dir);
        const s = startService(env);
        // Kill once this run has written segments, at a varied moment (mid-segment, mid-write, mid-manifest).
        for (let w = 0; (await fetchArchived(dir)) < before + 2; w++) {
          expect(w, `run ${i} archived nothing: ${s.stderr()}`).toBeLessThan(300);
          await sleep(50);
        }
        await sleep((i * 137) % 400);
        expect(s.child.exitCode, s.stderr()).toBeNull();
        s.child.kill('SIGKILL');
        expect((await s.exited).signal).toBe('SIGKILL');
        const archived = await fetchArchived(dir);
        process.stderr.write(`backup e2e: kill ${i + 1}: ${archived} segments in the backup, ${written} events written\n`);
        if (i === kills - 1) expect(archived, 'the killed runs archived nothing').toBeGreaterThan(5);
      }
      writing = false;
      await load;
      await writer.close();
      // A last run catches up, shows lag 0 on /health and /metrics, and stops cleanly on SIGTERM.
      const s = startService(env);
      let health: { status: string; partitions: { records: string }[] } | undefined;
      for (let i = 0; ; i++) {
        await sleep(200);
        health = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5000) })
          .then((r) => r.json() as Promise<typeof health>)
          .catch(() => undefined);
        if (health && health.partitions.length === 4 && health.partitions.every((p) => p.records === '0')) break;
        expect(i, `never caught up: ${JSON.stringify(health)}\n${s.stderr()}`).toBeLessThan(150);
      }
      expect(health!.status).toBe('ok');
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/agentstate_backup_lag_records\{partition="0"\} 0/);
      expect(metrics).toMatch(/agentstate_backup_rpo_seconds\{partition="3"\} 0/);
      s.child.kill('SIGTERM');
      expect(await s.exited).toEqual({ code: 0, signal: null });

      const blobs = new FsBlobStore({ dir: join(dir, 'blobs') });
      const segments = await expectExactCoverage(log, blobs, prefix);
      expect(segments).toBeGreaterThan(30);
      const report = await verifyBackup({ blobs, codec, deep: true });
      process.stderr.write(`backup e2e: ${written} events written, ${report.segments} segments, ${report.unreferenced.length} unreferenced segment objects left by kills\n`);
      expect(report.problems).toEqual([]);
      expect(report.versionGaps).toEqual([]);
      expect(report.records).toBe(written);
      expect(report.deep!.folded).toBe(ids.length);
      expect(report.deep!.rejected).toEqual({});

      // The CLI agrees, and a restore into a new data dir gives the same agents.
      const cli = join(repoRoot, 'bin/agentstate.js');
      const cliEnv = { ...process.env, AGENTSTATE_TOPIC_PREFIX: prefix, KAFKA_BROKERS: '' };
      const verify = await promisify(execFile)('node', [cli, 'backup', 'verify', '--deep', '--data-dir', dir], { env: cliEnv });
      expect(verify.stdout).toMatch(/backup ok: \d+ segments/);
      const target = join(dir, 'restored');
      const restored = await promisify(execFile)('node', [cli, 'restore', '--to', 'latest', '--target-data-dir', target, '--data-dir', dir, '--json'], { env: cliEnv });
      const r = JSON.parse(restored.stdout) as { ok: boolean; agents: number; published: number };
      expect({ ok: r.ok, agents: r.agents, published: r.published }).toEqual({ ok: true, agents: ids.length, published: written });
      await blobs.close();
    } finally {
      writing = false;
      await load.catch(() => undefined);
      await log.close();
    }
  }, 420_000);
});
