import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { republish, restoreEmbedded, verifyBackup } from '../../../src/backup/index.js';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicNames } from '../../../src/log/topics.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { openEmbeddedSource, projectSource, tempRoot } from '../../support/embedded-source.js';
import { archiveUntilCaughtUp, codec, writeAgents } from './helpers.js';

const root = tempRoot('restore');

describe('restore from the backup (embedded profile)', () => {
  it('restores every agent (version and checksum), to latest and to a point in time, and resumes an interrupted restore without duplicates', async () => {
    const prefix = 'rs.';
    const sourceDir = await openEmbeddedSource(join(root, 'source'), prefix, 4);
    const { log, blobs, store } = sourceDir;
    const ids = Array.from({ length: 15 }, (_, i) => `r-${i}`);
    try {
      await writeAgents(log, prefix, ids, 3);
      await sleep(30);
      const middle = Date.now();
      await sleep(30);
      await writeAgents(log, prefix, ids.slice(0, 10), 2, 'late', false);
      await projectSource(sourceDir, codec, prefix);
      await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, segmentMaxBytes: 3000 });
      const source = await store.getStates(ids);
      const total = Object.values(await log.endOffsets(topicNames(prefix).events)).reduce((n, e) => n + Number(e), 0);

      // Latest: every agent equals the source, version and checksum.
      const latest = await restoreEmbedded({ blobs, targetDataDir: join(root, 'latest'), codec, topicPrefix: prefix });
      expect(latest.mismatched).toEqual([]);
      expect(latest.ok).toBe(true);
      expect(latest.agents).toBe(ids.length);
      expect(latest.published).toBe(total);
      const restored = new SqliteStateStore({ path: join(root, 'latest', 'store.sqlite') });
      const got = await restored.getStates(ids);
      await restored.close();
      for (const id of ids) expect({ id, v: got.get(id)?.version, c: got.get(id)?.checksum }).toEqual({ id, v: source.get(id)!.version, c: source.get(id)!.checksum });

      // Point in time: the state each agent had at `middle` (version 4 = created + 3 updates), checksum of that event.
      const pit = await restoreEmbedded({ blobs, targetDataDir: join(root, 'pit'), codec, topicPrefix: prefix, to: middle });
      expect(pit.ok).toBe(true);
      const pitStore = new SqliteStateStore({ path: join(root, 'pit', 'store.sqlite') });
      const atMiddle = await pitStore.getStates(ids);
      await pitStore.close();
      for (const id of ids) {
        const [v4] = await store.queryEvents({ instanceId: id, fromVersion: 4, toVersion: 4 });
        expect({ id, v: atMiddle.get(id)?.version, c: atMiddle.get(id)?.checksum }).toEqual({ id, v: 4, c: v4!.stateChecksum });
        expect(v4!.timestamp).toBeLessThanOrEqual(middle);
      }

      // Interrupted after the first chunk, then re-run: continues, never duplicates.
      const target = join(root, 'resumed');
      mkdirSync(target, { recursive: true });
      const partial = new SqliteEventLog({ path: join(target, 'log.sqlite') });
      await expect(
        republish({
          blobs,
          target: partial,
          targetBlobs: new FsBlobStore({ dir: join(target, 'blobs') }),
          codec,
          topicPrefix: prefix,
          chunkRecords: 7,
          onProgress: () => {
            throw new Error('killed (test)');
          },
        }),
      ).rejects.toThrow(/killed/);
      const partialCount = Object.values(await partial.endOffsets(topicNames(prefix).events)).reduce((n, e) => n + Number(e), 0);
      await partial.close();
      expect(partialCount).toBe(7);
      const resumed = await restoreEmbedded({ blobs, targetDataDir: target, codec, topicPrefix: prefix });
      expect(resumed.ok).toBe(true);
      expect(resumed.present).toBe(7);
      expect(resumed.published).toBe(total - 7);
      const again = await restoreEmbedded({ blobs, targetDataDir: target, codec, topicPrefix: prefix });
      expect({ ok: again.ok, published: again.published, present: again.present }).toEqual({ ok: true, published: 0, present: total });

      // The restored data dir's own log is byte-identical to the source's (keys, values, headers, timestamps).
      const copy = new SqliteEventLog({ path: join(target, 'log.sqlite') });
      const topic = topicNames(prefix).events;
      for (const [p, end] of Object.entries(await log.endOffsets(topic))) {
        const a = await log.read(topic, Number(p), '0', end);
        const b = await copy.read(topic, Number(p), '0', end);
        expect(b.map((r) => [r.offset, r.key, r.timestamp, r.headers, r.value?.toString('base64')])).toEqual(a.map((r) => [r.offset, r.key, r.timestamp, r.headers, r.value?.toString('base64')]));
      }
      await copy.close();
      expect((await verifyBackup({ blobs, codec })).ok).toBe(true);
    } finally {
      await sourceDir.close();
    }
  });
});
