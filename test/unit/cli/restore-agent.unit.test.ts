import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { agentStateFromBackup } from '../../../src/backup/index.js';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { restore } from '../../../src/cli/commands/restore.js';
import { fold, type StateEvent } from '../../../src/domain/index.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { archiveUntilCaughtUp, codec, writeAgents } from '../backup/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-restore-agent-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The log's events of one agent, in order. */
async function eventsOf(log: SqliteEventLog, id: string): Promise<StateEvent[]> {
  const topic = topicNames('agentstate.').events;
  const out: StateEvent[] = [];
  for (const [p, end] of Object.entries(await log.endOffsets(topic))) {
    for (const r of await log.read(topic, Number(p), '0', end)) if (r.key === id && r.value) out.push(await codec.decode(r.value));
  }
  return out.sort((a, b) => a.version - b.version);
}

describe('agentstate restore --agent <id> --to <time> (in place, from the backup)', () => {
  it('appends one state_rolled_back event that moves the agent to its state at that time; history stays', async () => {
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite'), pollIntervalMs: 10 });
    await log.setup(topicSpecs({ prefix: 'agentstate.', partitions: 4 }));
    const ids = ['ra-1', 'ra-2'];
    await writeAgents(log, 'agentstate.', ids, 3);
    await sleep(30);
    const middle = Date.now();
    await sleep(30);
    await writeAgents(log, 'agentstate.', ids, 2, 'late', false);
    const blobs = new FsBlobStore({ dir: join(dir, 'blobs'), fsync: false });
    await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: 'agentstate.', segmentMaxBytes: 1500 });
    const before = await eventsOf(log, 'ra-1');
    const atMiddle = fold(before.filter((e) => e.timestamp <= middle)).projection!;
    expect(atMiddle.version).toBe(4);
    expect((await agentStateFromBackup(blobs, codec, 'ra-1', middle)).checksum).toBe(atMiddle.checksum);
    await blobs.close();
    await log.close();

    const lines: string[] = [];
    const code = await restore(
      ['--agent', 'ra-1', '--to', new Date(middle).toISOString(), '--json', '--data-dir', dir, '--backend', 'embedded'],
      (s) => void lines.push(s),
      () => undefined,
    );
    expect(code).toBe(0);
    const report = JSON.parse(lines.join('\n')) as { backupVersion: number; newVersion: number; checksum: string; sameAsBackup: boolean };
    expect(report).toMatchObject({ backupVersion: 4, sameAsBackup: true, checksum: atMiddle.checksum });

    const reopened = new SqliteEventLog({ path: join(dir, 'log.sqlite'), pollIntervalMs: 10 });
    try {
      const after = await eventsOf(reopened, 'ra-1');
      // History kept byte for byte; then an ownership claim and the restore event.
      expect(after.slice(0, before.length)).toEqual(before);
      expect(after.slice(before.length).map((e) => e.eventType)).toEqual(['ownership_acquired', 'state_rolled_back']);
      expect(after.at(-1)).toMatchObject({ version: report.newVersion, stateChecksum: atMiddle.checksum, metadata: { restoredVersion: '4', from: 'backup' } });
      // The other agent is untouched.
      expect((await eventsOf(reopened, 'ra-2')).length).toBe(before.length);
    } finally {
      await reopened.close();
    }
    await expect(
      restore(
        ['--agent', 'ra-1', '--agents', 'x', '--to', 'latest', '--data-dir', dir],
        () => undefined,
        () => undefined,
      ),
    ).rejects.toThrow(/takes no --agents/);
  });
});
