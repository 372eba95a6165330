import { execFile } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'bin', 'agentstate.js');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL'].includes(k)));

/** What a CLI run ended with; a run still going after `timeoutMs` is killed and reported as such. */
async function agentstate(args: string[], timeoutMs: number): Promise<{ code: number | null; killed: boolean; stderr: string; ms: number }> {
  const started = Date.now();
  try {
    const { stderr } = await run('node', [cli, ...args], { env, timeout: timeoutMs, killSignal: 'SIGKILL' });
    return { code: 0, killed: false, stderr, ms: Date.now() - started };
  } catch (e) {
    const err = e as { code?: number; killed?: boolean; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : null, killed: err.killed === true, stderr: err.stderr ?? '', ms: Date.now() - started };
  }
}

/** Issue 12 §1 / issue 13: `start` exits on every failure, even after its in-process projector started. */
describe('agentstate start fails promptly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentstate-start-fail-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits non-zero with one line when the log has a corrupt page (it used to hang after the error)', async () => {
    const dataDir = join(dir, 'corrupt');
    const first = await agentstate(['start', '--agents', '5', '--duration', '2s', '--data-dir', dataDir], 60_000);
    expect(first.code, first.stderr).toBe(0);
    // A page in the middle of the log, overwritten.
    const file = join(dataDir, 'log.sqlite');
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0xff), 0, 4096, Math.floor(statSync(file).size / 2 / 4096) * 4096);
    closeSync(fd);
    // 90 s: far below the run's 5 minutes, so a hang is caught, and above a slow start on a loaded machine.
    const second = await agentstate(['start', '--agents', '5', '--duration', '5m', '--data-dir', dataDir], 90_000);
    expect(second.killed, `start hung after the error (stderr: ${second.stderr})`).toBe(false);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/agentstate start: .*malformed/);
  });

  it('refuses an absurd fleet size before opening anything', async () => {
    const dataDir = join(dir, 'huge');
    const r = await agentstate(['start', '--agents', '4294967296', '--data-dir', dataDir], 30_000);
    expect(r.killed).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--agents: 4294967296 is more than/);
  });
});
