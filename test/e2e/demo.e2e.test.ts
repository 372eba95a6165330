import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/blob/fs.js';
import type { RecoverySummary } from '../../src/demo/hosted-fleet.js';
import { Keyring, MasterKeySet } from '../../src/codec/index.js';
import { Snapshotter } from '../../src/projector/index.js';
import { SqliteDataKeyStore, SqliteStateStore } from '../../src/store/sqlite/index.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'bin', 'agentstate.js');
// The embedded profile: no server variables reach the CLI.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL'].includes(k)));

async function status(dataDir: string): Promise<{ agents: number; events: number; logRecords: number; rejected: number; snapshots: number; backend: string }> {
  const { stdout } = await run('node', [cli, 'status', '--json', '--data-dir', dataDir], { env });
  return JSON.parse(stdout) as never;
}

describe('npm start: the embedded profile, no servers', () => {
  const dirs: string[] = [];
  const newDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'agentstate-demo-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('runs a 50-agent fleet on 3 runtime hosts for 10s, recovers the agents of the host it crashes, and prints a summary that status then reads back', async () => {
    const dataDir = newDir();
    const { stdout } = await run('npm', ['start', '--', '--agents', '50', '--duration', '10s', '--snapshot-every', '10', '--json', '--data-dir', dataDir], { cwd: root, env, maxBuffer: 8 * 1024 * 1024 });
    const summary = JSON.parse(stdout.slice(stdout.indexOf('{'))) as {
      agents: number;
      events: number;
      rejected: number;
      snapshots: number;
      projectedAgents: number;
      thisRun: { events: number; writeErrors: number };
      recovery: RecoverySummary;
    };
    expect(summary.agents).toBe(50);
    // The host crash (5s in, by default) was detected and every agent of the crashed host recovered on a survivor.
    const r = summary.recovery;
    expect(r.hosts).toEqual(['demo-host-1', 'demo-host-2', 'demo-host-3']);
    expect(r.crash?.nodeId).toBe('demo-host-2');
    expect(r.crash?.agents).toBe(17); // round-robin: agents 1, 4, ..., 49
    expect(r.byKind).toEqual({ node_silent: 17 });
    expect(r.byStatus).toEqual({ succeeded: 17 });
    expect(r.agentsRecovered).toBe(17);
    expect(r.failures).toEqual([]);
    expect(r.detectMs!.max).toBeLessThanOrEqual(r.servingMs!.max);
    // The in-process projector projected every agent and took policy snapshots.
    expect(summary.projectedAgents).toBe(50);
    expect(summary.snapshots).toBeGreaterThan(0);
    expect(summary.events).toBeGreaterThan(200);
    expect(summary.thisRun.writeErrors).toBe(0);
    expect(summary.thisRun.events).toBe(summary.events);
    const s = await status(dataDir);
    expect(s.backend).toBe('embedded');
    expect({ agents: s.agents, events: s.events, rejected: s.rejected, snapshots: s.snapshots }).toEqual({
      agents: summary.agents,
      events: summary.events,
      rejected: summary.rejected,
      snapshots: summary.snapshots,
    });
    // The backup service ran in the demo (issue 14) and closed its segments on exit: every event is in the backup.
    const rows = JSON.parse((await run('node', [cli, 'backup', 'status', '--json', '--data-dir', dataDir], { env })).stdout) as { lagRecords: string; archivedNext: string | null }[];
    expect(rows.reduce((n, r) => n + Number(r.lagRecords), 0)).toBe(0);
    expect(rows.reduce((n, r) => n + Number(r.archivedNext ?? 0), 0)).toBe(summary.events);
  });

  it('loses nothing it reported written when killed with SIGKILL, and continues on restart', async () => {
    const dataDir = newDir();
    const child = spawn('node', [cli, 'start', '--agents', '30', '--think-ms', '50', '--progress-every', '300ms', '--data-dir', dataDir], { env });
    let reported = 0;
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      for (const m of stderr.matchAll(/events (\d+) /g)) reported = Math.max(reported, Number(m[1]));
    });
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (reported >= 300) {
          clearInterval(check);
          resolve();
        }
      }, 50);
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(stderr).toMatch(/backup lag \d+s \d+ records/);
    const afterKill = await status(dataDir);
    expect(afterKill.agents).toBe(30);
    // status's `events` counts what the projector mirrored (it may trail a kill -9); the log's records are what was written.
    expect(afterKill.logRecords).toBeGreaterThanOrEqual(reported);
    expect(afterKill.rejected).toBe(0);
    // Restart: every agent resumes from the log (a new owner epoch), versions go on.
    const { stdout } = await run('node', [cli, 'start', '--agents', '30', '--duration', '3s', '--json', '--data-dir', dataDir], { env });
    const summary = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { agents: number; events: number; rejected: number; thisRun: { resumed: number; created: number; events: number; writeErrors: number } };
    expect(summary.thisRun.resumed).toBe(30);
    expect(summary.thisRun.created).toBe(0);
    expect(summary.thisRun.writeErrors).toBe(0);
    expect(summary.rejected).toBe(0);
    // The restart's writes, its hosts' ownership claims (one per agent) included.
    expect(summary.events).toBe(afterKill.logRecords + summary.thisRun.events);
  });

  it('inspects, travels in time, rolls back and snapshots an agent from the data dir', async () => {
    const dataDir = newDir();
    const cmd = async (...args: string[]) => JSON.parse((await run('node', [cli, ...args, '--json', '--data-dir', dataDir], { env })).stdout) as Record<string, unknown>;
    // A few seconds of the demo, resumed until the agent has some history (a loaded machine writes slowly).
    let head: Record<string, unknown> = { version: 0 };
    for (let i = 0; (head.version as number) <= 5; i++) {
      expect(i, `demo-agent-1 still at version ${String(head.version)} after ${i} demo runs`).toBeLessThan(5);
      await run('node', [cli, 'start', '--agents', '3', '--think-ms', '20', '--duration', '3s', '--data-dir', dataDir], { env });
      head = await cmd('inspect', 'demo-agent-1');
    }
    const at3 = await cmd('state', 'demo-agent-1', '--at', '3');
    expect(at3.version).toBe(3);
    const history = (await run('node', [cli, 'history', 'demo-agent-1', '--json', '--data-dir', dataDir], { env })).stdout;
    expect((JSON.parse(history) as Array<{ version: number }>).map((e) => e.version).slice(0, 3)).toEqual([1, 2, 3]);
    const rolled = await cmd('rollback', 'demo-agent-1', '3');
    // A new version whose content is the old one's: same checksum, history kept.
    expect(rolled.newVersion).toBe((head.version as number) + 2); // + ownership claim + rollback
    expect(rolled.sameAsTarget).toBe(true);
    const after = await cmd('inspect', 'demo-agent-1');
    expect(after.checksum).toBe(at3.checksum);
    expect(after.state).toEqual(at3.state);
    await run('node', [cli, 'projector', '--until-caught-up', '--data-dir', dataDir], { env });
    const snap = await cmd('snapshot', 'demo-agent-1');
    expect(snap.version).toBe(rolled.newVersion);
    expect(snap.stateChecksum).toBe(at3.checksum);
  });

  it('encrypts snapshot bodies when master keys are set; they open with the keys kept in the data dir, and not without', async () => {
    const dataDir = newDir();
    const keyed = { ...env, AGENTSTATE_MASTER_KEYS: `m1:${randomBytes(32).toString('base64')}` };
    await run('node', [cli, 'start', '--agents', '3', '--think-ms', '20', '--duration', '3s', '--snapshot-every', '5', '--data-dir', dataDir], { env: keyed });
    await run('node', [cli, 'snapshot', 'demo-agent-1', '--data-dir', dataDir], { env: keyed });

    const store = new SqliteStateStore({ path: join(dataDir, 'store.sqlite') });
    const blobs = new FsBlobStore({ dir: join(dataDir, 'blobs') });
    const keys = new SqliteDataKeyStore({ path: join(dataDir, 'keys.sqlite') });
    try {
      await store.setup();
      await keys.setup();
      const records = await store.listSnapshots('demo-agent-1');
      expect(records.map((r) => r.type)).toContain('checkpoint');
      const keyring = new Keyring({ masterKeys: MasterKeySet.parse(keyed.AGENTSTATE_MASTER_KEYS), store: keys });
      for (const r of records) {
        expect((await blobs.get(r.blobKey))!.subarray(0, 4).toString('latin1')).toBe('ASEF');
        // load verifies the body and state checksums before returning.
        await expect(new Snapshotter(store, blobs, { keyring }).load(r)).resolves.toBeDefined();
        await expect(new Snapshotter(store, blobs).load(r)).rejects.toThrow(/encrypted and no keyring/);
      }
    } finally {
      await keys.close();
      await blobs.close();
      await store.close();
    }
  });

  it('answers bad input with one clear line and a non-zero exit', async () => {
    const e = await run('node', [cli, 'start', '--agents', 'many'], { env }).catch((x: { code: number; stderr: string }) => x);
    expect((e as { code: number }).code).toBe(2);
    expect((e as { stderr: string }).stderr.trim()).toBe('agentstate start: --agents: "many" is not a positive whole number');
    const u = await run('node', [cli, 'frobnicate'], { env }).catch((x: { code: number; stderr: string }) => x);
    expect((u as { code: number }).code).toBe(2);
    const { stdout } = await run('node', [cli, 'inspect', '--help'], { env });
    expect(stdout).toContain('agentstate inspect <instanceId>');
  });
});
