import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteEventLog } from '../../src/log/sqlite/index.js';
import { repoRoot } from '../support/kill-child.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-session-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The child: one consumer in group `g` with the session timeout it is given, then idles. */
const CHILD = `
const { SqliteEventLog } = await import(${JSON.stringify(pathToFileURL(join(repoRoot, 'src/log/sqlite/index.ts')).href)});
const log = new SqliteEventLog({ path: process.env.LOG_PATH });
await log.setup([{ name: 'events', partitions: 1, compacted: false }]);
await log.consume({ group: 'g', topics: ['events'], sessionTimeoutMs: Number(process.env.SESSION_MS), handler: async () => {} });
process.stdout.write('ready\\n');
setInterval(() => {}, 1000);
`;

/**
 * Issue 13: SqliteEventLog honoured only its own `sessionTimeoutMs`, not the
 * port's per-consumer one. A consumer that asked for 1 s is counted dead 1 s
 * after it went silent (SIGSTOP: the process exists, its heartbeats stop),
 * not after the reader's 10 s default. Time is the behaviour under test here,
 * so the margin is wide: the bound is 8 s against a 1 s session.
 */
describe("SqliteEventLog: a consumer's own session timeout", () => {
  it('a silent member is dead after the session timeout it joined with', async () => {
    const path = join(dir, 'session.sqlite');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
      cwd: repoRoot,
      env: { ...process.env, LOG_PATH: path, SESSION_MS: '1000' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const log = new SqliteEventLog({ path, pollIntervalMs: 20 });
    try {
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: child.stdout }).on('line', (l) => l === 'ready' && resolve());
        child.on('exit', (code) => reject(new Error(`child exited with ${code} before it was ready`)));
      });
      child.kill('SIGSTOP');
      const silentSince = Date.now();
      const join = () => log.consume({ group: 'g', topics: ['events'], handler: async () => {} });
      // Its last heartbeat is at most a heartbeat interval (333 ms) old: still live.
      await expect(join()).rejects.toMatchObject({ code: 'AS_CONFLICT' });
      let consumer: Awaited<ReturnType<typeof join>> | undefined;
      while (!consumer) {
        consumer = await join().catch((e: { code?: string }) => {
          if (e.code !== 'AS_CONFLICT') throw e;
          return undefined;
        });
        if (!consumer) await new Promise((r) => setTimeout(r, 100));
        expect(Date.now() - silentSince, 'still counted live: the 10 s default, not its 1 s session').toBeLessThan(8000);
      }
      await consumer.stop();
    } finally {
      child.kill('SIGKILL');
      await log.close();
    }
  });
});
