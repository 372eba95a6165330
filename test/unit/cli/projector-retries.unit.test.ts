import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentStateClient } from '../../../src/client/index.js';
import { openEmbedded } from '../../../src/embedded.js';
import { openLog } from '../../../src/sdk/wiring.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { eventually } from '../../contract/log/helpers.js';

const root = mkdtempSync(join(tmpdir(), 'agentstate-projector-retries-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const IDS = ['pr-1', 'pr-2', 'pr-3'];

interface LogLine {
  level: number;
  msg: string;
  err?: { message?: string };
}

/**
 * Issue 12 §1: the CLI projector logs each retry at warn with its reason (it
 * had no logger, so restarts were invisible), and catches up once the sink
 * is back. The sink failing here is the embedded store, held by another
 * connection's write transaction (SQLITE_BUSY past busy_timeout), released
 * as soon as the warn line is seen.
 */
describe('agentstate projector with a sink failing for a while', () => {
  it('logs the retry at warn on stderr with the reason, then projects everything and exits 0', async () => {
    const dir = join(root, 'data');
    const as = await openEmbedded({ dataDir: dir });
    try {
      for (const id of IDS) {
        await as.client.createAgent(id, { agentType: 'worker' });
        await as.manager.getCurrentState(id, { minVersion: 1 });
      }
    } finally {
      await as.close();
    }
    const script = join(root, 'run.mts');
    writeFileSync(script, `import { main } from ${JSON.stringify(join(process.cwd(), 'src/cli/main.ts'))};\nprocess.exitCode = await main(process.argv.slice(2));\n`);
    const child = spawn(process.execPath, [join(process.cwd(), 'node_modules', 'tsx', 'dist', 'cli.mjs'), script, 'projector', '--json', '--backend', 'embedded', '--data-dir', dir], {
      env: { PATH: process.env.PATH, HOME: root, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const stderr: string[] = [];
    const lines = createInterface({ input: child.stderr });
    /** The first stderr line `match` accepts; rejects when the projector exits first. */
    const seen = <T>(match: (line: string) => T | undefined): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        const onLine = (line: string): void => {
          const m = match(line);
          if (m !== undefined) {
            lines.off('line', onLine);
            resolve(m);
          }
        };
        lines.on('line', onLine);
        void exited.then((code) => reject(new Error(`projector exited (${code}):\n${stderr.join('\n')}`)));
      });
    lines.on('line', (line) => stderr.push(line));
    const holder = new Database(join(dir, 'store.sqlite'));
    /** The version each agent's last write reached: what the store must show once the projector caught up. */
    const heads = new Map<string, number>();
    let locked = false;
    try {
      // Its sinks are set up (the line it prints before consuming); then the store's write lock is taken by someone else...
      await seen((line) => (line.startsWith('agentstate projector: ') ? true : undefined));
      holder.exec('BEGIN IMMEDIATE');
      locked = true;
      // ...and events the store has not seen arrive (through the log alone: nothing here touches the store).
      const log = await openLog({ kind: 'embedded', dataDir: dir, topicPrefix: 'agentstate.' });
      try {
        const client = await AgentStateClient.connect({ log: log.log, codec: log.codec, topicPrefix: log.prefix, bootstrap: false });
        for (const id of IDS) {
          await client.acquire(id);
          await client.updateState(id, [{ op: 'update', path: '/status', newValue: 'running' }]);
          heads.set(id, client.getState(id)!.version);
        }
        await client.close();
      } finally {
        await log.close();
      }
      // The signal: a warn line about a failed store write, with its reason. Then the lock goes.
      const warned = await seen((line) => {
        if (!line.startsWith('{')) return undefined;
        const entry = JSON.parse(line) as LogLine;
        return entry.level === 40 && /failed; retrying/.test(entry.msg) ? entry : undefined;
      });
      expect(warned.err?.message, JSON.stringify(warned)).toMatch(/SQLITE_BUSY/);
      holder.exec('ROLLBACK');
      locked = false;
      // It catches up: every agent at its last written version in the store, then a clean stop.
      const store = new SqliteStateStore({ path: join(dir, 'store.sqlite'), readOnly: true });
      await store.setup();
      try {
        await eventually(async () => [...(await store.getStates(IDS)).values()].filter((s) => s.version === heads.get(s.instanceId)).length === IDS.length, 'the projector to catch up after the lock went', 60_000).catch(
          async (e: unknown) => {
            throw new Error(`${String(e)}; store: ${JSON.stringify([...(await store.getStates(IDS)).values()].map((s) => [s.instanceId, s.version]))}; stderr:\n${stderr.join('\n')}`);
          },
        );
      } finally {
        await store.close();
      }
      child.kill('SIGTERM');
      expect(await exited, stderr.join('\n')).toBe(0);
      expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toMatchObject({ agents: 3 });
    } finally {
      if (locked) holder.exec('ROLLBACK');
      holder.close();
      child.kill('SIGKILL');
    }
  }, 180_000);
});
