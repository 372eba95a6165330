import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { MemoryCache } from '../../../src/cache/memory.js';
import { CATALOG_PREFIX, catalogKey, readArchivedTopics, restoreEmbedded } from '../../../src/backup/index.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { Projector } from '../../../src/projector/index.js';
import { Snapshotter } from '../../../src/snapshots/snapshotter.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { archiveUntilCaughtUp, codec, openSourceDir, writeAgents } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'agentstate-backup-meta-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * Issue 14: "Also backs up what a restore needs besides events": on the
 * embedded profile the topic configurations and the snapshot catalog (the
 * bodies stay where the snapshotter put them, in the data dir's blobs, and
 * the backup only names them). `restore --target-data-dir` then gets the
 * same topics and the same snapshots, each body readable and checked.
 */
describe('backup of topic configurations and the snapshot catalog (embedded)', () => {
  it('a restore into a new data dir recreates the topics as configured and brings every snapshot back, up to the restore point', async () => {
    const prefix = 'meta.';
    const dir = join(root, 'source');
    const names = topicNames(prefix);
    // Not the default layout: a restore must not fall back to it.
    const specs = topicSpecs({ prefix, partitions: 3 }).map((s) => (s.name === names.heartbeats ? { ...s, retentionMs: 3_600_000 } : s.name === names.anomalies ? { ...s, partitions: 2 } : s));
    // One blob store for snapshot bodies and the backup, as in a data dir.
    const { log, blobs } = await openSourceDir(dir, specs);
    const store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
    await store.setup();
    const ids = Array.from({ length: 8 }, (_, i) => `m-${i}`);
    try {
      await writeAgents(log, prefix, ids, 5);
      const project = () => new Projector({ log, codec, store, blobs, cache: new MemoryCache(), topicPrefix: prefix, sweepIntervalMs: 0, snapshots: { everyEvents: 2 } }).runUntilCaughtUp(undefined, 20);
      await project();
      await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, catalog: store, segmentMaxBytes: 4000 });
      const midVersions = new Map((await store.getStates(ids)).entries());
      const middle = Date.now() + 1;
      while (Date.now() <= middle) await new Promise((r) => setTimeout(r, 2));
      await writeAgents(log, prefix, ids, 4, 'late', false);
      await project();
      await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, catalog: store, segmentMaxBytes: 4000 });

      // The backup holds the topics as configured and one catalog object per agent naming its snapshots.
      const topics = await readArchivedTopics(blobs);
      expect(topics?.topics.map((t) => [t.role, t.partitions, t.compacted, t.retentionMs]).sort()).toEqual(specs.map((s) => [s.name.slice(prefix.length), s.partitions, s.compacted, s.retentionMs]).sort());
      const sourceSnapshots = new Map<string, string[]>();
      for (const id of ids) sourceSnapshots.set(id, (await store.listSnapshots(id)).map((s) => s.snapshotId).sort());
      expect([...sourceSnapshots.values()].every((l) => l.length >= 3)).toBe(true);
      for (const id of ids) expect(await blobs.head(catalogKey(id))).toBeTruthy();
      // Bodies are not copied into the backup: only metadata lives under the catalog prefix.
      let catalogObjects = 0;
      for await (const b of blobs.list(CATALOG_PREFIX)) catalogObjects += b.key.startsWith(CATALOG_PREFIX) ? 1 : 0;
      expect(catalogObjects).toBe(ids.length);

      // Latest, into a new data dir: same topics, same snapshots, every body readable and checked.
      const target = join(root, 'latest');
      const report = await restoreEmbedded({ blobs, targetDataDir: target, codec, topicPrefix: prefix });
      expect(report.ok).toBe(true);
      expect(report.snapshots.missing).toEqual([]);
      expect(report.snapshots.restored + report.snapshots.present).toBe([...sourceSnapshots.values()].reduce((n, l) => n + l.length, 0));
      expect(report.snapshots.copied).toBe(report.snapshots.restored);
      const tlog = new SqliteEventLog({ path: join(target, 'log.sqlite') });
      const tstore = new SqliteStateStore({ path: join(target, 'store.sqlite') });
      const tblobs = new FsBlobStore({ dir: join(target, 'blobs'), fsync: false });
      try {
        const described = await tlog.describeTopics(specs.map((s) => s.name));
        expect(described.map((d) => [d.name, d.partitions, d.compacted, d.retentionMs]).sort()).toEqual(specs.map((s) => [s.name, s.partitions, s.compacted, s.retentionMs]).sort());
        const snapshotter = new Snapshotter(tstore, tblobs);
        const heads = await tstore.getStates(ids);
        for (const id of ids) {
          const restored = await tstore.listSnapshots(id);
          expect({ id, snapshots: restored.map((s) => s.snapshotId).sort() }).toEqual({ id, snapshots: sourceSnapshots.get(id) });
          // Each body loads: blob checksum, frame checksum and state checksum verified by load.
          for (const s of restored) await snapshotter.load(s);
          expect(heads.get(id)?.version).toBe(Math.max(...restored.map((s) => s.version)) + (heads.get(id)!.version % 2));
        }
      } finally {
        await Promise.allSettled([tlog.close(), tstore.close(), tblobs.close()]);
      }

      // Point in time: no snapshot from after the restore point.
      const pitDir = join(root, 'pit');
      const pit = await restoreEmbedded({ blobs, targetDataDir: pitDir, codec, topicPrefix: prefix, to: middle });
      expect(pit.ok).toBe(true);
      const pstore = new SqliteStateStore({ path: join(pitDir, 'store.sqlite') });
      try {
        for (const id of ids) {
          const want = midVersions.get(id)!.version;
          const got = await pstore.listSnapshots(id);
          expect({ id, versions: got.map((s) => s.version).sort((a, b) => a - b) }).toEqual({
            id,
            versions: (await store.listSnapshots(id))
              .map((s) => s.version)
              .filter((v) => v <= want)
              .sort((a, b) => a - b),
          });
        }
      } finally {
        await pstore.close();
      }
    } finally {
      await Promise.allSettled([log.close(), blobs.close(), store.close()]);
    }
  }, 60_000);
});
