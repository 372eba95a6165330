import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BackupDamagedError, listManifestVersions, openManifest, restoreEmbedded } from '../../../src/backup/index.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { openEmbeddedSource, projectSource, tempRoot } from '../../support/embedded-source.js';
import { archiveUntilCaughtUp, codec, writeAgents } from './helpers.js';

const root = tempRoot('allow-gap');
const prefix = 'gap.';
const ids = Array.from({ length: 8 }, (_, i) => `g-${i}`);

describe('restore across a deleted segment', () => {
  it('refuses without --allow-gap; with it, stops each agent that lost events at its last contiguous version and names it', async () => {
    const source = await openEmbeddedSource(join(root, 'source'), prefix, 2);
    const { log, blobs, store } = source;
    try {
      await writeAgents(log, prefix, ids, 6);
      await projectSource(source, codec, prefix);
      await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, segmentMaxBytes: 1200 });
      const heads = await store.getStates(ids);
      // Delete a segment in the middle of partition 0.
      const versions = await listManifestVersions(blobs, 0);
      expect(versions.length).toBeGreaterThan(3);
      const v = versions[Math.floor(versions.length / 2)]!;
      const lost = await openManifest((await blobs.get(v.key))!, v.key);
      await blobs.delete(lost.segment.key);

      await expect(restoreEmbedded({ blobs, targetDataDir: join(root, 'refused'), codec, topicPrefix: prefix })).rejects.toBeInstanceOf(BackupDamagedError);

      const r = await restoreEmbedded({ blobs, targetDataDir: join(root, 'crossed'), codec, topicPrefix: prefix, allowGap: true });
      expect(r.ok).toBe(true);
      expect(r.problems.map((p) => [p.kind, p.firstOffset, p.lastOffset])).toEqual([['segment_missing', lost.segment.firstOffset, lost.segment.lastOffset]]);
      const restored = new SqliteStateStore({ path: join(root, 'crossed', 'store.sqlite') });
      const got = await restored.getStates(ids);
      await restored.close();
      const hit = lost.segment.agents;
      expect(Object.keys(hit).length).toBeGreaterThan(0);
      for (const id of ids) {
        const range = hit[id];
        const want = range ? range.firstVersion - 1 : heads.get(id)!.version;
        expect({ id, v: got.get(id)?.version ?? 0 }).toEqual({ id, v: want });
        if (!range) expect(got.get(id)!.checksum).toBe(heads.get(id)!.checksum);
      }
      // Named: every agent of the lost segment that has events after it.
      const named = r.gapAgents.map((g) => g.instanceId).sort();
      expect(named).toEqual(
        Object.entries(hit)
          .filter(([id, a]) => a.lastVersion < heads.get(id)!.version)
          .map(([id]) => id)
          .sort(),
      );
      for (const g of r.gapAgents) expect(g).toMatchObject({ partition: 0, version: hit[g.instanceId]!.firstVersion - 1, nextInBackup: hit[g.instanceId]!.lastVersion + 1 });
    } finally {
      await source.close();
    }
  });
});
