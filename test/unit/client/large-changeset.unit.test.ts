import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { restoreEmbedded, verifyBackup } from '../../../src/backup/index.js';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { JsonEventCodec } from '../../../src/client/index.js';
import { StateManager } from '../../../src/manager/index.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { archiveUntilCaughtUp } from '../backup/helpers.js';
import { expectHardCapRefused, payload } from '../../support/large-changeset.js';
import { history, inspect, stateAt } from '../../../src/cli/commands/inspect.js';
import { openAgentState } from '../../../src/index.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicNames } from '../../../src/log/topics.js';

const root = mkdtempSync(join(tmpdir(), 'agentstate-large-changeset-'));
const dir = join(root, 'data');
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * Issue 12 §6 on the embedded profile: a 5 MB update is claim-checked (the
 * blob in <data-dir>/blobs, the event on the log a reference) and reads back
 * equal everywhere; past the hard cap it is AS_TOO_LARGE naming the limit.
 */
describe('large changesets, embedded', () => {
  it('a 5 MB update succeeds and reads back equal through the manager, time travel and the CLI; past maxChangesetBytes it is AS_TOO_LARGE', async () => {
    const as = await openAgentState({ env: false, dataDir: dir });
    const big = payload(5 * 1000 * 1000);
    try {
      await as.client.createAgent('big-1', { agentType: 't' });
      const result = await as.client.memoryUpdated('big-1', { big });
      expect(result.newVersion).toBe(2);
      await as.client.memoryUpdated('big-1', { small: 1 });

      const current = await as.manager.getCurrentState('big-1', { minVersion: 3 });
      expect(isDeepStrictEqual(current?.state.memory, { big, small: 1 })).toBe(true);
      const events = await as.manager.getEventHistory('big-1', { fromVersion: 2, toVersion: 2 });
      expect(isDeepStrictEqual(events[0]!.changeset, [{ path: '/memory/big', op: 'create', newValue: big }])).toBe(true);
      const at2 = await as.manager.projectState('big-1', 2);
      expect(isDeepStrictEqual(at2.state.memory, { big })).toBe(true);
      const replay = await as.manager.replayEvents('big-1', 1, 3);
      expect([replay.verified, replay.errors]).toEqual([true, []]);

      // The hard cap: refused before anything is written, the agent goes on.
      await expectHardCapRefused(as.client, 'big-1', 3);
    } finally {
      await as.close();
    }

    // On disk: one changeset blob, and log records far below the broker-sized limit.
    const blobFiles = readdirSync(join(dir, 'blobs', 'changesets', 'big-1'));
    expect(blobFiles).toHaveLength(1);
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite'), readOnly: true });
    const events = topicNames('agentstate.').events;
    let largest = 0;
    for (const [p, end] of Object.entries(await log.endOffsets(events))) for (const r of await log.read(events, Number(p), '0', end)) largest = Math.max(largest, r.value?.length ?? 0);
    await log.close();
    expect(largest).toBeLessThan(10_000);

    // The CLI reads the log and resolves the blob the same way.
    const lines: string[] = [];
    const out = (s: string): void => void lines.push(s);
    const where = ['--data-dir', dir, '--backend', 'embedded', '--json'];
    expect(await inspect(['big-1', ...where], out)).toBe(0);
    expect(isDeepStrictEqual((JSON.parse(lines.at(-1)!) as { state: { memory: unknown } }).state.memory, { big, small: 1 })).toBe(true);
    expect(await stateAt(['big-1', '--at', '2', ...where], out)).toBe(0);
    expect(isDeepStrictEqual((JSON.parse(lines.at(-1)!) as { state: { memory: unknown } }).state.memory, { big })).toBe(true);
    expect(await history(['big-1', ...where], out)).toBe(0);
    expect((JSON.parse(lines.at(-1)!) as Array<{ version: number; changes: number }>).map((r) => [r.version, r.changes])).toEqual([
      [1, expect.any(Number) as unknown],
      [2, 1],
      [3, 1],
    ]);

    // The backup (in the data dir's blob store, as the CLI keeps it) holds the changeset; a restore onto a fresh data dir reads it back equal.
    const codec = new JsonEventCodec();
    const blobs = new FsBlobStore({ dir: join(dir, 'blobs') });
    const backupLog = new SqliteEventLog({ path: join(dir, 'log.sqlite') });
    await archiveUntilCaughtUp({ log: backupLog, blobs, codec });
    await backupLog.close();
    expect(readdirSync(join(dir, 'blobs', 'backup', 'changesets', 'big-1'))).toEqual(blobFiles);
    const verified = await verifyBackup({ blobs, codec, deep: true, partitions: 4 });
    expect([verified.ok, verified.deep?.folded, verified.deep?.rejected]).toEqual([true, 1, {}]);
    const restoredDir = join(root, 'restored');
    const report = await restoreEmbedded({ blobs, targetDataDir: restoredDir, codec });
    expect([report.ok, report.agents]).toEqual([true, 1]);
    const restoredStore = new SqliteStateStore({ path: join(restoredDir, 'store.sqlite') });
    const restoredBlobs = new FsBlobStore({ dir: join(restoredDir, 'blobs') });
    const restored = new StateManager({ store: restoredStore, blobs: restoredBlobs });
    expect(isDeepStrictEqual((await restored.getCurrentState('big-1'))?.state.memory, { big, small: 1 })).toBe(true);
    expect(isDeepStrictEqual((await restored.projectState('big-1', 2)).state.memory, { big })).toBe(true);
    await restoredStore.close();
    await restoredBlobs.close();

    // The blob gone: time travel and the CLI make the same decision (changeset_missing, and the versions after it do not follow).
    rmSync(join(dir, 'blobs', 'changesets', 'big-1', blobFiles[0]!));
    const store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
    const manager = new StateManager({ store, blobs });
    expect((await manager.getEventHistory('big-1')).map((e) => e.version)).toEqual([1, 3]);
    await store.close();
    await blobs.close();
    expect(await inspect(['big-1', ...where], out)).toBe(0);
    expect((JSON.parse(lines.at(-1)!) as { version: number }).version).toBe(1);
  });
});
