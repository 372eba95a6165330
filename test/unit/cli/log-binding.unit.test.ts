import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { doctor } from '../../../src/cli/commands/doctor.js';
import { projector } from '../../../src/cli/commands/projector.js';
import { start } from '../../../src/cli/commands/start.js';
import { AgentStateClient, JsonEventCodec } from '../../../src/client/index.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicSpecs } from '../../../src/log/topics.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';

const root = mkdtempSync(join(tmpdir(), 'agentstate-log-binding-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const lines: string[] = [];
const out = (s: string): void => void lines.push(s);
const quiet = (): void => undefined;
const at = (dir: string, ...argv: string[]): string[] => [...argv, '--data-dir', dir, '--backend', 'embedded'];

/** Writes `agents` agents at `versions` versions each into the data dir's log, then projects them with the CLI. */
async function populate(dir: string, agents: string[], versions: number): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const log = new SqliteEventLog({ path: join(dir, 'log.sqlite') });
  await log.setup(topicSpecs({ prefix: 'agentstate.', partitions: 4 }));
  const client = await AgentStateClient.connect({ log, codec: new JsonEventCodec(), bootstrap: false });
  for (const id of agents) {
    await client.createAgent(id, { agentType: 'demo' });
    for (let v = 2; v <= versions; v++) await client.memoryUpdated(id, { step: v });
  }
  await client.close();
  await log.close();
  expect(await projector(at(dir, '--until-caught-up'), quiet, quiet)).toBe(0);
}

async function doctorReport(dir: string): Promise<{ code: number; report: { ok: boolean; checks: { check: string; ok: boolean; detail: string }[] } }> {
  const code = await doctor(at(dir, '--json'), out);
  return { code, report: JSON.parse(lines.at(-1)!) as never };
}

async function storedVersions(dir: string): Promise<Record<string, number>> {
  const store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
  try {
    const ids = await store.listAgents();
    const rows = await store.getStates(ids);
    return Object.fromEntries([...rows].map(([id, s]) => [id, s.version]));
  } finally {
    await store.close();
  }
}

/**
 * Issue 12 §3: the store records which log it projects; every service refuses
 * a log that is another one or behind the store; doctor reports it and
 * SQLite's integrity; --rebuild is the way out.
 */
describe('the store and its log (embedded)', () => {
  it('an emptied log.sqlite: start and the projector refuse, doctor names it, --rebuild refolds the new log (start wrote nothing)', async () => {
    const dir = join(root, 'emptied');
    await populate(dir, ['a-1', 'a-2', 'a-3'], 5);
    expect((await doctorReport(dir)).code).toBe(0);

    truncateSync(join(dir, 'log.sqlite'), 0); // : > log.sqlite
    expect(existsSync(join(dir, 'log.sqlite-wal'))).toBe(false);

    // start refuses before its fleet writes a thing (it used to begin again at version 1 under newer states).
    await expect(start(at(dir, '--agents', '2', '--duration', '5s'), quiet, quiet)).rejects.toMatchObject({
      code: 'AS_LOG_MISMATCH',
      message: expect.stringMatching(/another log|the configured log is sqlite:.*--rebuild/) as unknown,
    });
    await expect(projector(at(dir, '--until-caught-up'), quiet, quiet)).rejects.toMatchObject({ code: 'AS_LOG_MISMATCH' });
    expect(await storedVersions(dir)).toEqual({ 'a-1': 5, 'a-2': 5, 'a-3': 5 });

    const { code, report } = await doctorReport(dir);
    expect(code).toBe(1);
    expect(report.ok).toBe(false);
    expect(report.checks.filter((c) => c.check.startsWith('sqlite')).every((c) => c.ok)).toBe(true);
    const failed = report.checks.filter((c) => !c.ok).map((c) => c.check);
    expect(failed).toContain('log other_log');
    expect(failed).toContain('log log_behind');

    // The way out: rebuild the store from the log it now has.
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite') });
    const client = await AgentStateClient.connect({ log, codec: new JsonEventCodec(), bootstrap: false });
    await client.createAgent('b-1', { agentType: 'demo' });
    await client.close();
    await log.close();
    expect(await projector(at(dir, '--until-caught-up', '--rebuild'), quiet, quiet)).toBe(0);
    expect(await storedVersions(dir)).toEqual({ 'b-1': 1 });
    expect((await doctorReport(dir)).code).toBe(0);
  });

  it("another data dir's log copied in is refused even when it is not behind", async () => {
    const mine = join(root, 'mine');
    const other = join(root, 'other');
    await populate(mine, ['m-1'], 2);
    // Every partition of the other log is longer than this one's: only the identity tells them apart.
    await populate(
      other,
      Array.from({ length: 16 }, (_, i) => `o-${i}`),
      4,
    );
    copyFileSync(join(other, 'log.sqlite'), join(mine, 'log.sqlite'));
    await expect(projector(at(mine, '--until-caught-up'), quiet, quiet)).rejects.toMatchObject({ code: 'AS_LOG_MISMATCH' });
    const { code, report } = await doctorReport(mine);
    expect(code).toBe(1);
    expect(report.checks.filter((c) => !c.ok).map((c) => c.check)).toEqual(['log other_log']);
  });

  it('doctor finds a corrupt page in the store, without opening it for writing', async () => {
    const dir = join(root, 'corrupt');
    await populate(
      dir,
      Array.from({ length: 60 }, (_, i) => `c-${i}`),
      3,
    );
    const file = join(dir, 'store.sqlite');
    const size = statSync(file).size;
    expect(size).toBeGreaterThan(8 * 4096);
    // A page in the middle of the file, overwritten (page 1, the header, stays intact).
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0xff), 0, 4096, Math.floor(size / 2 / 4096) * 4096);
    closeSync(fd);
    const before = statSync(file).mtimeMs;
    const { code, report } = await doctorReport(dir);
    expect(code).toBe(1);
    const store = report.checks.find((c) => c.check === 'sqlite store.sqlite');
    expect(store?.ok).toBe(false);
    expect(store?.detail).not.toBe('ok');
    expect(report.checks.find((c) => c.check === 'sqlite log.sqlite')?.ok).toBe(true);
    expect(statSync(file).mtimeMs).toBe(before);
    expect(existsSync(`${file}-wal`)).toBe(false);
  });
});
