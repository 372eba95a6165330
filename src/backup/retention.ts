import type { BlobStore } from '../blob/port.js';
import { BACKUP_ROOT, listBackupPartitions, listManifestVersions, openManifest } from './manifest.js';

/** What {@link pruneBackup} did. */
export interface PruneReport {
  /** Segment objects a manifest version names (never deleted). */
  referenced: number;
  /** Unreferenced segment objects deleted. */
  deleted: string[];
  /** Unreferenced segment objects left: younger than the grace period, or in a partition whose manifest chain is damaged. */
  kept: string[];
}

/**
 * The backup's retention as far as an event backup allows it (docs/backup.md
 * "Retention"): every restore point, the newest included, folds each agent
 * from its first event, so **every segment a manifest version names is
 * needed** and is never deleted, whatever its age. What goes are segment
 * objects no manifest names: left by a crash between the segment write and
 * the manifest write, when the range was then archived to another key
 * (verify lists them as `unreferenced`). Each must be older than `graceMs`
 * (an archiver may be between its two writes right now), and a partition
 * with a missing or unreadable manifest version keeps all of its objects (the
 * damaged version may name one of them; verify names the damage).
 */
export async function pruneBackup(blobs: BlobStore, options: { now: number; graceMs: number }): Promise<PruneReport> {
  const referenced = new Set<string>();
  const damaged = new Set<number>();
  for (const p of await listBackupPartitions(blobs)) {
    const versions = await listManifestVersions(blobs, p);
    if (versions.length !== (versions.at(-1)?.version ?? 0)) damaged.add(p);
    for (const v of versions) {
      const bytes = await blobs.get(v.key);
      const m = bytes ? await openManifest(bytes, v.key).catch(() => undefined) : undefined;
      if (m) referenced.add(m.segment.key);
      else damaged.add(p);
    }
  }
  const report: PruneReport = { referenced: referenced.size, deleted: [], kept: [] };
  for await (const info of blobs.list(`${BACKUP_ROOT}/`)) {
    const m = /^backup\/events\/(\d+)\/segments\//.exec(info.key);
    if (!m || referenced.has(info.key)) continue;
    const age = info.lastModified ? options.now - info.lastModified.getTime() : 0;
    if (damaged.has(Number(m[1])) || age < options.graceMs) {
      report.kept.push(info.key);
      continue;
    }
    await blobs.delete(info.key);
    report.deleted.push(info.key);
  }
  return report;
}
