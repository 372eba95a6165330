import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BackupArchiver, listManifestVersions, manifestKey, openManifest, restoreEmbedded, segmentKey, verifyBackup } from '../../../src/backup/index.js';
import { topicSpecs } from '../../../src/log/topics.js';
import { archiveUntilCaughtUp, codec, openSourceDir, writeAgents } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'agentstate-backup-retention-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const DAY = 86_400_000;

/**
 * The backup's retention on the embedded profile, with an injected clock:
 * segment objects no manifest names (a crash between the segment write and
 * the manifest write, the range then archived to another key) go once older
 * than the grace period; every segment a manifest names stays, however old
 * (every restore point folds each agent from its first event); a partition
 * whose chain is damaged keeps everything. verify and restore still pass.
 */
describe('backup retention (embedded, injected clock)', () => {
  it('deletes only unreferenced segment objects past the grace period, on the archiver schedule; verify and restore still pass', async () => {
    const prefix = 'ret.';
    const { log, blobs } = await openSourceDir(join(root, 'source'), topicSpecs({ prefix, partitions: 2 }));
    const ids = Array.from({ length: 6 }, (_, i) => `ret-${i}`);
    try {
      await writeAgents(log, prefix, ids, 4);
      await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, segmentMaxBytes: 1500, pruneIntervalMs: 0 });
      // Two crash leftovers per partition: a copy of a real segment under the key of a range that was then archived otherwise.
      const orphans: string[] = [];
      for (const p of [0, 1]) {
        const [first] = await listManifestVersions(blobs, p);
        const m = await openManifest((await blobs.get(first!.key))!, first!.key);
        const bytes = (await blobs.get(m.segment.key))!;
        for (const extra of [1n, 2n]) {
          const key = segmentKey(p, m.segment.firstOffset, (BigInt(m.segment.lastOffset) + 1000n * extra).toString());
          await blobs.put(key, bytes);
          orphans.push(key);
        }
      }
      const referencedBefore = (await verifyBackup({ blobs, codec })).segments;
      expect((await verifyBackup({ blobs, codec })).unreferenced.sort()).toEqual([...orphans].sort());

      // Within the grace period (clock = now): nothing goes.
      const young = await new BackupArchiver({ log, blobs, codec, topicPrefix: prefix, now: () => Date.now() }).prune();
      expect({ deleted: young.deleted, kept: young.kept.sort() }).toEqual({ deleted: [], kept: [...orphans].sort() });

      // A damaged chain in partition 1 (its first manifest version unreadable): partition 1 keeps its leftovers.
      expect((await listManifestVersions(blobs, 1)).length).toBeGreaterThan(1);
      const lastKey = manifestKey(1, 1);
      const good = (await blobs.get(lastKey))!;
      await blobs.put(lastKey, good.subarray(0, good.length - 5));

      // Two days later, on the archiver's own schedule (tick, pruneIntervalMs): partition 0's leftovers go, partition 1's stay.
      let clock = Date.now() + 2 * DAY;
      const archiver = new BackupArchiver({ log, blobs, codec, topicPrefix: prefix, tickMs: 10, pruneIntervalMs: 60_000, orphanGraceMs: DAY, now: () => clock });
      const stop = new AbortController();
      const running = archiver.run(stop.signal).catch(() => undefined);
      const gone = async (keys: string[]) => (await Promise.all(keys.map((k) => blobs.head(k)))).every((h) => !h);
      try {
        // The first run is one interval after start: move the clock past it.
        clock += 61_000;
        for (let i = 0; !(await gone(orphans.slice(0, 2))); i++) {
          expect(i, 'retention did not run on the schedule').toBeLessThan(500);
          await new Promise((r) => setTimeout(r, 10));
        }
      } finally {
        stop.abort();
        await running;
      }
      for (const k of orphans.slice(2)) expect(await blobs.head(k), k).toBeTruthy();

      // Repaired, retention again: the rest go; every segment a manifest names is still there.
      await blobs.put(lastKey, good);
      const after = await archiver.prune();
      expect(after.deleted.sort()).toEqual(orphans.slice(2).sort());
      const report = await verifyBackup({ blobs, codec });
      expect({ ok: report.ok, problems: report.problems, unreferenced: report.unreferenced, segments: report.segments }).toEqual({ ok: true, problems: [], unreferenced: [], segments: referencedBefore });
      const restored = await restoreEmbedded({ blobs, targetDataDir: join(root, 'restored'), codec, topicPrefix: prefix });
      expect({ ok: restored.ok, agents: restored.agents }).toEqual({ ok: true, agents: ids.length });
    } finally {
      await Promise.allSettled([log.close(), blobs.close()]);
    }
  }, 60_000);
});
