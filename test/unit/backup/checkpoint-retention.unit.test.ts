import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  BackupArchiver,
  BackupDamagedError,
  RestorePointTooOldError,
  agentStateFromBackup,
  applyRetention,
  backupTotals,
  checkpointKey,
  listCheckpoints,
  listManifestVersions,
  openCheckpoint,
  oldestRestorableTime,
  openManifest,
  resolveArchiverOptions,
  restoreEmbedded,
  verifyBackup,
  type Checkpoint,
} from '../../../src/backup/index.js';
import type { BlobStore } from '../../../src/blob/port.js';
import { ConfigError } from '../../../src/errors.js';
import { openEmbeddedSource, projectSource, tempRoot } from '../../support/embedded-source.js';
import { archiveUntilCaughtUp, codec, failingDeletes, storeHeads, writeAgents } from './helpers.js';

const root = tempRoot('checkpoint-retention');
const DAY = 86_400_000;

async function checkpointsOf(blobs: BlobStore, partition: number): Promise<Checkpoint[]> {
  const out: Checkpoint[] = [];
  for (const c of await listCheckpoints(blobs, partition)) out.push(await openCheckpoint((await blobs.get(c.key))!, c.key));
  return out;
}

/**
 * Checkpoints and retention by age on the embedded profile, with an injected
 * clock (the retention's `now`; record times are real): checkpoints written
 * on the interval, nothing deleted while no checkpoint is older than the
 * window, then the segments up to the newest checkpoint before the window
 * deleted (a crash in the middle loses nothing); verify, restore to latest
 * and to a point in the window start from that checkpoint and equal the
 * source; a point before it is refused naming the oldest restorable time.
 */
describe('backup checkpoints and retention by age (embedded, injected clock)', () => {
  it('keepDays needs checkpoints and the prune schedule; keepMonthly needs keepDays', () => {
    const base = { log: {} as never, blobs: {} as never, codec };
    expect(() => resolveArchiverOptions({ ...base, keepDays: 7 })).toThrow(ConfigError);
    expect(() => resolveArchiverOptions({ ...base, keepDays: 7 })).toThrow(/checkpointIntervalMs/);
    expect(() => resolveArchiverOptions({ ...base, keepDays: 7, checkpointIntervalMs: DAY, pruneIntervalMs: 0 })).toThrow(/pruneIntervalMs/);
    expect(() => resolveArchiverOptions({ ...base, keepMonthly: 3 })).toThrow(/keepDays/);
    expect(resolveArchiverOptions({ ...base }).keepDays).toBe(0);
  });

  it('deletes segments only behind the oldest kept checkpoint, crash-safely; verify and restore start from it', async () => {
    const prefix = 'cp.';
    const source = await openEmbeddedSource(join(root, 'source'), prefix, 2);
    const { log, blobs } = source;
    const ids = Array.from({ length: 8 }, (_, i) => `cp-${i}`);
    const archive = () => archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, segmentMaxBytes: 1500 });
    const retention = (b: BlobStore, now: number, keepDays: number) => applyRetention(b, { codec, now, checkpointIntervalMs: DAY, keepDays, keepMonthly: 0 });
    const T = Date.now();
    try {
      await writeAgents(log, prefix, ids, 3);
      await archive();
      await sleep(20);
      const tA = Date.now();
      // The first run on the archiver's own retention (options as BACKUP_CHECKPOINT_INTERVAL_MS / BACKUP_KEEP_DAYS set them).
      let r = (await new BackupArchiver({ log, blobs, codec, topicPrefix: prefix, checkpointIntervalMs: DAY, keepDays: 7, now: () => T }).prune()).retention;
      expect(r.map((p) => [p.partition, !!p.written, p.deletedSegments.length])).toEqual([
        [0, true, 0],
        [1, true, 0],
      ]);

      await writeAgents(log, prefix, ids, 2, 'b', false);
      await archive();
      await sleep(20);
      const tB = Date.now();
      await sleep(20);
      // Two days later: a second checkpoint; every checkpoint is inside the 7-day window, so nothing is deleted.
      r = await retention(blobs, T + 2 * DAY, 7);
      expect(r.map((p) => [!!p.written, p.deletedSegments.length, p.deletedCheckpoints.length])).toEqual([
        [true, 0, 0],
        [true, 0, 0],
      ]);

      await writeAgents(log, prefix, ids, 2, 'c', false);
      await archive();
      await projectSource(source, codec, prefix);
      r = await retention(blobs, T + 4 * DAY, 0);
      expect(r.every((p) => p.written && p.deletedSegments.length === 0)).toBe(true);
      const segmentsBefore = (await verifyBackup({ blobs, codec })).segments;

      // References from the whole history, before anything is deleted.
      const refB = await restoreEmbedded({ blobs, targetDataDir: join(root, 'ref-b'), codec, topicPrefix: prefix, to: tB });
      expect(refB.ok).toBe(true);
      const sourceHeads = await storeHeads(join(source.dir, 'store.sqlite'), ids);
      const cps = [await checkpointsOf(blobs, 0), await checkpointsOf(blobs, 1)];
      expect(cps.map((c) => c.length)).toEqual([3, 3]);
      for (const [c1, c2, c3] of cps) {
        expect(c1!.maxTimestamp).toBeLessThanOrEqual(tA);
        expect(c2!.maxTimestamp).toBeLessThanOrEqual(tB);
        expect(c3!.maxTimestamp).toBeGreaterThan(tB);
      }

      // 7 days after tB: the window starts at tB, the newest checkpoint at or before it (the second) is the floor.
      const now = tB + 7 * DAY;
      // A crash after the first segment deletion (the older checkpoint is already gone): nothing is lost.
      await expect(retention(failingDeletes(blobs, 2, /\/segments\//), now, 7)).rejects.toThrow(/injected crash/);
      const mid = await verifyBackup({ blobs, codec });
      expect({ ok: mid.ok, problems: mid.problems }).toEqual({ ok: true, problems: [] });
      const midRestore = await restoreEmbedded({ blobs, targetDataDir: join(root, 'mid-crash'), codec, topicPrefix: prefix });
      expect(midRestore.ok).toBe(true);
      expect(await storeHeads(join(root, 'mid-crash', 'store.sqlite'), ids)).toEqual(sourceHeads);

      // Re-run: completes.
      r = await retention(blobs, now, 7);
      for (const p of r) {
        const [, c2] = cps[p.partition]!;
        expect(p.refused).toBeUndefined();
        expect(p.floor?.key).toBe(checkpointKey(p.partition, c2!.manifestVersion));
        expect((await listCheckpoints(blobs, p.partition)).map((c) => c.manifestVersion)).toEqual([c2!.manifestVersion, cps[p.partition]![2]!.manifestVersion]);
        // Segments up to the floor's manifest version are gone, every later one is there.
        for (const v of await listManifestVersions(blobs, p.partition)) {
          const m = await openManifest((await blobs.get(v.key))!, v.key);
          expect({ v: v.version, present: !!(await blobs.head(m.segment.key)) }).toEqual({ v: v.version, present: v.version > c2!.manifestVersion });
        }
      }

      // verify (deep, against the source store) accepts the chain starting at the checkpoint.
      const report = await verifyBackup({
        blobs,
        codec,
        deep: true,
        expected: async (want) => {
          const got = await source.store.getStates(want);
          return new Map([...got].map(([id, s]) => [id, { version: s.version, checksum: s.checksum }]));
        },
      });
      expect({ ok: report.ok, problems: report.problems, unreferenced: report.unreferenced, matched: report.deep?.matched }).toEqual({ ok: true, problems: [], unreferenced: [], matched: ids.length });
      expect(report.partitions.map((p) => p.checkpoint?.key)).toEqual([0, 1].map((p) => checkpointKey(p, cps[p]![1]!.manifestVersion)));
      expect(report.segments).toBeLessThan(segmentsBefore);

      // Restore to latest and to tB (in the window) start at the checkpoint and equal the full-history results.
      const latest = await restoreEmbedded({ blobs, targetDataDir: join(root, 'after-latest'), codec, topicPrefix: prefix });
      expect({ ok: latest.ok, agents: latest.agents, seeded: latest.seeded, mismatched: latest.mismatched }).toEqual({ ok: true, agents: ids.length, seeded: ids.length, mismatched: [] });
      expect(await storeHeads(join(root, 'after-latest', 'store.sqlite'), ids)).toEqual(sourceHeads);
      // The progress denominator counts only what a restore reads: the segments after the checkpoints.
      expect((await backupTotals(blobs)).records).toBe(latest.published);
      const atB = await restoreEmbedded({ blobs, targetDataDir: join(root, 'after-b'), codec, topicPrefix: prefix, to: tB });
      expect(atB.ok).toBe(true);
      expect(await storeHeads(join(root, 'after-b', 'store.sqlite'), ids)).toEqual(await storeHeads(join(root, 'ref-b', 'store.sqlite'), ids));

      // Before the oldest kept point: refused, naming the oldest restorable time.
      const oldest = Math.max(...cps.map((c) => c[1]!.maxTimestamp));
      expect(await oldestRestorableTime(blobs, [0, 1])).toBe(oldest);
      const early = restoreEmbedded({ blobs, targetDataDir: join(root, 'too-old'), codec, topicPrefix: prefix, to: tA });
      await expect(early).rejects.toThrow(RestorePointTooOldError);
      await expect(early).rejects.toThrow(`the oldest restorable time is ${new Date(oldest).toISOString()}`);

      // restore --agent: from the checkpoint to latest, and refused before it.
      const one = await agentStateFromBackup(blobs, codec, ids[0]!, Number.MAX_SAFE_INTEGER);
      expect(`${one.version}:${one.checksum}`).toBe(sourceHeads[ids[0]!]);
      await expect(agentStateFromBackup(blobs, codec, ids[0]!, tA)).rejects.toThrow(/oldest restorable time/);

      // A segment after the floor deleted: verify names it with its offsets, restore refuses to cross it.
      const [, after] = (await listManifestVersions(blobs, 0)).filter((v) => v.version > cps[0]![1]!.manifestVersion);
      const gone = (await openManifest((await blobs.get(after!.key))!, after!.key)).segment;
      await blobs.delete(gone.key);
      const damaged = await verifyBackup({ blobs, codec });
      expect(damaged.problems.map((p) => [p.kind, p.firstOffset, p.lastOffset])).toEqual([['segment_missing', gone.firstOffset, gone.lastOffset]]);
      await expect(restoreEmbedded({ blobs, targetDataDir: join(root, 'damaged'), codec, topicPrefix: prefix })).rejects.toThrow(BackupDamagedError);

      // Manifest versions are never retired: verify reads those behind the checkpoint too (not their segments).
      const [, v2] = await listManifestVersions(blobs, 0);
      const v2Bytes = (await blobs.get(v2!.key))!;
      await blobs.delete(v2!.key);
      expect((await verifyBackup({ blobs, codec })).problems.filter((p) => p.kind !== 'segment_missing').map((p) => [p.kind, p.key])).toEqual([['manifest_missing', 'manifest version 2']]);
      await blobs.put(v2!.key, v2Bytes);
      // A truncated version 1 is named even though a checkpoint follows it.
      const v1 = (await listManifestVersions(blobs, 1))[0]!;
      const v1Bytes = (await blobs.get(v1.key))!;
      await blobs.put(v1.key, v1Bytes.subarray(0, v1Bytes.length - 3));
      expect((await verifyBackup({ blobs, codec })).problems.filter((p) => p.partition === 1)[0]).toMatchObject({ kind: 'manifest_corrupt', key: v1.key });
    } finally {
      await source.close();
    }
  }, 120_000);
});
