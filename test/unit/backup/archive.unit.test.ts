import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../../src/blob/fs.js';
import type { BlobStore } from '../../../src/blob/port.js';
import { MemoryCache } from '../../../src/cache/memory.js';
import {
  BackupArchiver,
  EVENTS_CATALOG_KEY,
  listManifestVersions,
  manifestKey,
  openManifest,
  readEventsCatalog,
  readHead,
  recordHeads,
  restoreEmbedded,
  verifyBackup,
  type ManifestVersion,
} from '../../../src/backup/index.js';
import { UnavailableError } from '../../../src/errors.js';
import type { EventLog } from '../../../src/log/port.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { Projector } from '../../../src/projector/index.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { tempRoot } from '../../support/embedded-source.js';
import { archiveUntilCaughtUp, codec, expectExactCoverage, writeAgents } from './helpers.js';

const root = tempRoot('backup');
let n = 0;

/** A fresh source: SQLite log with agents written, blobs dir for the backup. */
async function source(agents = 12, rounds = 4) {
  const dir = join(root, `src-${n++}`);
  const prefix = `b${n}.`;
  mkdirSync(dir, { recursive: true });
  const log = new SqliteEventLog({ path: join(dir, 'log.sqlite'), pollIntervalMs: 10 });
  await log.setup(topicSpecs({ prefix, partitions: 3 }));
  const blobs = new FsBlobStore({ dir: join(dir, 'blobs'), fsync: false });
  await blobs.setup();
  const ids = Array.from({ length: agents }, (_, i) => `agent-${i}`);
  await writeAgents(log, prefix, ids, rounds);
  return { dir, prefix, log, blobs, ids, close: () => Promise.allSettled([log.close(), blobs.close()]) };
}

/** Projects the source log into a store (the "latest per-agent state checksum" verify --deep compares with). */
async function project(dir: string, log: EventLog, prefix: string) {
  const store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
  await store.setup();
  const blobs = new FsBlobStore({ dir: join(dir, 'proj-blobs'), fsync: false });
  await new Projector({ log, codec, store, blobs, cache: new MemoryCache(), topicPrefix: prefix, sweepIntervalMs: 0 }).runUntilCaughtUp(undefined, 20);
  return store;
}

/** A blob store whose puts fail once `broken()` says so (a crash point the archiver cannot finish past). */
function breakable(blobs: BlobStore, broken: (key: string) => boolean): BlobStore {
  return new Proxy(blobs, {
    get(target, prop, receiver) {
      if (prop === 'put') return (key: string, ...rest: unknown[]) => (broken(key) ? Promise.reject(new UnavailableError(`blob put ${key} (test outage)`)) : (target.put as (...a: unknown[]) => unknown)(key, ...rest));
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('backup archiver (embedded profile)', () => {
  it('archives every offset exactly once, byte for byte, and verify --deep matches the projected heads', async () => {
    const s = await source();
    try {
      await s.log.append(topicNames(s.prefix).events, [
        { key: 'not-an-event', value: Buffer.from([0, 1, 2, 255]), headers: { reason: 'raw bytes', 'x-b': 'é' } },
        { key: 'tomb', value: null },
      ]);
      await archiveUntilCaughtUp({ log: s.log, blobs: s.blobs, codec, topicPrefix: s.prefix, segmentMaxBytes: 4000 });
      const segments = await expectExactCoverage(s.log, s.blobs, s.prefix);
      expect(segments).toBeGreaterThan(3); // size-closed segments, not one per partition
      const store = await project(s.dir, s.log, s.prefix);
      const report = await verifyBackup({
        blobs: s.blobs,
        codec,
        deep: true,
        expected: async (ids) => new Map([...(await store.getStates(ids))].map(([id, st]) => [id, { version: st.version, checksum: st.checksum }])),
      });
      await store.close();
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.agents).toBe(s.ids.length);
      expect(report.deep!.matched).toBe(s.ids.length);
      expect(report.deep!.mismatched).toEqual([]);
      expect(report.versionGaps).toEqual([]);
      expect(report.records).toBe(s.ids.length * 5 + 2);
    } finally {
      await s.close();
    }
  });

  it('a crash with an open segment (group committed past the manifest) loses and doubles nothing, with or without the group rewind', async () => {
    for (const rewind of [true, false]) {
      const s = await source(8, 3);
      try {
        // First archiver: segments never close on their own; its final flush fails (the "crash").
        let crashed = false;
        const first = new BackupArchiver({ log: s.log, blobs: breakable(s.blobs, () => crashed), codec, topicPrefix: s.prefix, segmentMaxBytes: 1 << 30, segmentMaxAgeMs: 3_600_000, tickMs: 20 });
        const stop = new AbortController();
        const running = first.run(stop.signal);
        const topic = topicNames(s.prefix).events;
        const ends = await s.log.endOffsets(topic);
        for (let i = 0; ; i++) {
          const c = await s.log.committedOffsets(`${s.prefix}backup`, topic);
          if (Object.entries(ends).every(([p, e]) => c[Number(p)] === e)) break;
          expect(i).toBeLessThan(400);
          await new Promise((r) => setTimeout(r, 20));
        }
        crashed = true;
        stop.abort();
        await expect(running).rejects.toThrow(/test outage/);
        expect(await listManifestVersions(s.blobs, 0)).toEqual([]);
        // With the rewind, new writes arrive too; without it, none: the ticker must read the committed-past gap back by itself.
        if (rewind) await writeAgents(s.log, s.prefix, s.ids.slice(0, 4), 2, 'late', false);
        // Second archiver: the group says "all done" for the first records; the manifest says otherwise.
        const log = rewind
          ? s.log
          : new Proxy(s.log, {
              get: (t, p, r) =>
                p === 'resetGroup'
                  ? () => Promise.reject(new Error('members active (test)'))
                  : (Reflect.get(t, p, r) as unknown as { bind?: unknown }) && typeof Reflect.get(t, p, r) === 'function'
                    ? (Reflect.get(t, p, r) as (...a: unknown[]) => unknown).bind(t)
                    : Reflect.get(t, p, r),
            });
        await archiveUntilCaughtUp({ log, blobs: s.blobs, codec, topicPrefix: s.prefix, segmentMaxBytes: 3000 });
        await expectExactCoverage(s.log, s.blobs, s.prefix);
        expect((await verifyBackup({ blobs: s.blobs, codec })).ok).toBe(true);
      } finally {
        await s.close();
      }
    }
  });

  it('a crash between segment and manifest re-archives the range (the same object reused when the range is the same)', async () => {
    const s = await source(6, 2);
    try {
      let failManifests = true;
      const a = new BackupArchiver({ log: s.log, blobs: breakable(s.blobs, (k) => failManifests && k.includes('/manifest/')), codec, topicPrefix: s.prefix, segmentMaxBytes: 1 << 30, segmentMaxAgeMs: 3_600_000 });
      const stop = new AbortController();
      const running = a.run(stop.signal);
      await new Promise((r) => setTimeout(r, 300));
      stop.abort();
      await expect(running).rejects.toThrow(/test outage/);
      const before: string[] = [];
      for await (const b of s.blobs.list('backup/')) before.push(b.key);
      expect(before.some((k) => k.includes('/segments/'))).toBe(true);
      expect(before.some((k) => k.includes('/manifest/'))).toBe(false);
      failManifests = false;
      await archiveUntilCaughtUp({ log: s.log, blobs: s.blobs, codec, topicPrefix: s.prefix, segmentMaxBytes: 1 << 30 });
      await expectExactCoverage(s.log, s.blobs, s.prefix);
      const report = await verifyBackup({ blobs: s.blobs, codec });
      expect(report.ok).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('two archivers on one backup never fork a manifest: each offset in exactly one segment', async () => {
    const s = await source(10, 3);
    try {
      // Different groups: both read everything and race for every manifest version.
      await Promise.all([
        archiveUntilCaughtUp({ log: s.log, blobs: s.blobs, codec, topicPrefix: s.prefix, group: 'g1', segmentMaxBytes: 2500 }),
        archiveUntilCaughtUp({ log: s.log, blobs: s.blobs, codec, topicPrefix: s.prefix, group: 'g2', segmentMaxBytes: 2500 }),
      ]);
      await expectExactCoverage(s.log, s.blobs, s.prefix);
      expect((await verifyBackup({ blobs: s.blobs, codec })).problems).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('verify names a flipped byte, a deleted segment and a truncated manifest with their offsets', async () => {
    const s = await source(12, 4);
    try {
      await archiveUntilCaughtUp({ log: s.log, blobs: s.blobs, codec, topicPrefix: s.prefix, segmentMaxBytes: 2500 });
      const entries: { p: number; v: number; m: ManifestVersion }[] = [];
      for (const p of [0, 1, 2]) for (const v of await listManifestVersions(s.blobs, p)) entries.push({ p, v: v.version, m: await openManifest((await s.blobs.get(v.key))!, v.key) });
      const byPartition = (p: number) => entries.filter((e) => e.p === p);
      expect(byPartition(0).length).toBeGreaterThan(2);
      expect(byPartition(1).length).toBeGreaterThan(1);
      const blobsDir = join(s.dir, 'blobs');
      // Partition 0: flip a byte in the middle of its second segment.
      const flipped = byPartition(0)[1]!.m.segment;
      const file = join(blobsDir, flipped.key);
      const bytes = readFileSync(file);
      bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0x40;
      writeFileSync(file, bytes);
      // Partition 1: delete its first segment.
      const deleted = byPartition(1)[0]!.m.segment;
      unlinkSync(join(blobsDir, deleted.key));
      // Partition 2: truncate its last manifest version.
      const last2 = byPartition(2).at(-1)!;
      const mfile = join(blobsDir, manifestKey(2, last2.v));
      writeFileSync(mfile, readFileSync(mfile).subarray(0, 70));
      const report = await verifyBackup({ blobs: s.blobs, codec });
      expect(report.ok).toBe(false);
      const named = report.problems.map((p) => ({ kind: p.kind, partition: p.partition, firstOffset: p.firstOffset, lastOffset: p.lastOffset }));
      expect(named).toEqual([
        { kind: 'segment_checksum', partition: 0, firstOffset: flipped.firstOffset, lastOffset: flipped.lastOffset },
        { kind: 'segment_missing', partition: 1, firstOffset: deleted.firstOffset, lastOffset: deleted.lastOffset },
        { kind: 'manifest_corrupt', partition: 2, firstOffset: last2.m.segment.firstOffset, lastOffset: undefined },
      ]);
      // A restore refuses to cross the damage.
      await expect(restoreEmbedded({ blobs: s.blobs, targetDataDir: join(s.dir, 'restored'), codec, topicPrefix: s.prefix })).rejects.toThrow(/damaged at offsets/);
    } finally {
      await s.close();
    }
  });

  it('the catalog across partitions names a chain that lost its newest manifest versions, and a partition that lost them all', async () => {
    const s = await source(12, 4);
    try {
      await archiveUntilCaughtUp({ log: s.log, blobs: s.blobs, codec, topicPrefix: s.prefix, segmentMaxBytes: 2500 });
      const catalog = (await readEventsCatalog(s.blobs))!;
      const heads = await Promise.all([0, 1, 2].map((p) => readHead(s.blobs, p)));
      expect(catalog.heads).toEqual(heads.map((h) => ({ partition: h.partition, version: h.version, sha256: h.sha256, nextOffset: h.nextOffset, lastSegmentAt: h.lastSegmentAt })));
      expect((await verifyBackup({ blobs: s.blobs, codec })).problems).toEqual([]);
      // An older head never moves an entry back (a second archiver, a restart).
      expect(await recordHeads(s.blobs, [{ ...heads[0]!, version: 1 }], Date.now())).toBe(false);

      // Partition 0 loses its two newest manifest versions; partition 2 every one: without the catalog, the first
      // looks like a shorter chain and the second like a partition never written.
      const blobsDir = join(s.dir, 'blobs');
      const v0 = await listManifestVersions(s.blobs, 0);
      expect(v0.length).toBeGreaterThan(2);
      const kept0 = await openManifest((await s.blobs.get(v0.at(-3)!.key))!, v0.at(-3)!.key);
      for (const v of v0.slice(-2)) unlinkSync(join(blobsDir, v.key));
      for (const v of await listManifestVersions(s.blobs, 2)) unlinkSync(join(blobsDir, v.key));
      const report = await verifyBackup({ blobs: s.blobs, codec });
      expect(report.ok).toBe(false);
      expect(report.problems.map((p) => ({ kind: p.kind, partition: p.partition, firstOffset: p.firstOffset, lastOffset: p.lastOffset }))).toEqual([
        { kind: 'manifest_missing', partition: 0, firstOffset: kept0.nextOffset, lastOffset: (BigInt(heads[0]!.nextOffset!) - 1n).toString() },
        { kind: 'manifest_missing', partition: 2, firstOffset: undefined, lastOffset: (BigInt(heads[2]!.nextOffset!) - 1n).toString() },
      ]);
      // A restore refuses it, rather than restoring less and calling it the whole backup.
      await expect(restoreEmbedded({ blobs: s.blobs, targetDataDir: join(s.dir, 'restored'), codec, topicPrefix: s.prefix })).rejects.toThrow(/newest versions were deleted/);

      // A catalog that no longer opens is named too.
      writeFileSync(join(blobsDir, EVENTS_CATALOG_KEY), readFileSync(join(blobsDir, EVENTS_CATALOG_KEY)).subarray(0, 40));
      expect((await verifyBackup({ blobs: s.blobs, codec })).problems.map((p) => p.kind)).toEqual(['catalog_corrupt']);
    } finally {
      await s.close();
    }
  });
});
