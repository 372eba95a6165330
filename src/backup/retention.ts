import type { BlobStore } from '../blob/port.js';
import type { EventCodec } from '../codec/event-codec.js';
import type { Keyring } from '../codec/keyring.js';
import { BACKUP_ROOT, listBackupPartitions, listManifestVersions, openManifest } from './manifest.js';
import { listCheckpoints, openCheckpoint, type Checkpoint } from './checkpoint.js';
import { writeCheckpoint } from './checkpoint-write.js';
import { sha256Hex } from './segment.js';

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

const DAY_MS = 86_400_000;

export interface RetentionOptions {
  codec: EventCodec;
  /** Decrypts archived values and encrypts checkpoint states (the archiver's keyring, with `BACKUP_ENCRYPT`). */
  keyring?: Keyring;
  now: number;
  /** Write a checkpoint at a partition's manifest head when its newest checkpoint is at least this old (by `writtenAt`); 0 = never. */
  checkpointIntervalMs: number;
  /** Keep every restore point of the last N days (by record time); 0 = keep everything (no segment is deleted). */
  keepDays: number;
  /** Beyond N days, also keep the newest checkpoint of each of the last M calendar months (UTC). */
  keepMonthly: number;
}

/** What {@link applyRetention} did in one partition. */
export interface PartitionRetention {
  partition: number;
  /** The checkpoint written by this run, if any. */
  written?: string;
  /** The oldest checkpoint kept: the segments of manifest versions up to it are not needed. */
  floor?: { key: string; manifestVersion: number; maxTimestamp: number };
  kept: string[];
  deletedCheckpoints: string[];
  deletedSegments: string[];
  /** Why nothing was deleted, when that was decided (a checkpoint that does not open, one not bound to the manifest chain). */
  refused?: string;
}

/**
 * Retention by age (docs/backup.md "Retention"): per partition, first a
 * checkpoint at the manifest head when the newest is `checkpointIntervalMs`
 * old (written, read back and opened); then, with `keepDays` > 0, the
 * checkpoints to keep: every one whose restore point (`maxTimestamp`, its
 * newest record) is within the last `keepDays`, the newest one at or before
 * that cut (so every time in the window still has a checkpoint before it;
 * when there is none, nothing is deleted),
 * and the newest of each of the last `keepMonthly` calendar months before
 * the cut. The oldest kept one is the **floor**; every segment after it is
 * kept. In this order, so a crash anywhere leaves a restorable backup:
 * 1. checkpoints not kept are deleted, the oldest first (while the floor's
 *    older segments are there, nothing needs them; once they are gone the
 *    oldest checkpoint left is where restores start, and every segment after
 *    it is still there);
 * 2. the segments of manifest versions up to the floor's, oldest first.
 * Manifest versions are never deleted (the hash chain stays whole). A
 * partition whose checkpoints do not all open, or whose floor is not bound
 * to its manifest version, has nothing deleted (`refused`).
 * @throws BackupDamagedError when a checkpoint cannot be written because the chain is damaged (nothing deleted in that partition)
 */
export async function applyRetention(blobs: BlobStore, o: RetentionOptions): Promise<PartitionRetention[]> {
  const out: PartitionRetention[] = [];
  for (const partition of await listBackupPartitions(blobs)) {
    const r: PartitionRetention = { partition, kept: [], deletedCheckpoints: [], deletedSegments: [] };
    out.push(r);
    let listed = await listCheckpoints(blobs, partition);
    if (o.checkpointIntervalMs > 0) {
      const newest = listed.at(-1);
      const newestAt = newest ? (await openCheckpoint((await blobs.get(newest.key))!, newest.key).catch(() => undefined))?.writtenAt : undefined;
      if (newestAt === undefined || o.now - newestAt >= o.checkpointIntervalMs) {
        const w = await writeCheckpoint({ blobs, codec: o.codec, partition, now: o.now, ...(o.keyring ? { keyring: o.keyring } : {}) });
        if (w?.created) r.written = w.key;
        listed = await listCheckpoints(blobs, partition);
      }
    }
    if (o.keepDays <= 0 || listed.length === 0) continue;
    const cps: { key: string; cp: Checkpoint }[] = [];
    for (const c of listed) {
      const bytes = await blobs.get(c.key);
      const cp = bytes ? await openCheckpoint(bytes, c.key).catch(() => undefined) : undefined;
      if (!cp) {
        r.refused = `checkpoint ${c.key} does not open`;
        break;
      }
      cps.push({ key: c.key, cp });
    }
    if (r.refused) continue;
    const cut = o.now - o.keepDays * DAY_MS;
    const keep = new Set<string>();
    const old = cps.filter((c) => c.cp.maxTimestamp <= cut);
    for (const c of cps) if (c.cp.maxTimestamp > cut) keep.add(c.key);
    const base = old.at(-1);
    // No checkpoint at or before the cut: a restore to the window's start still needs every segment.
    if (!base) {
      r.kept = cps.map((c) => c.key);
      continue;
    }
    keep.add(base.key);
    const months = new Map<string, string>();
    for (const c of old) months.set(new Date(c.cp.maxTimestamp).toISOString().slice(0, 7), c.key);
    if (o.keepMonthly > 0) for (const key of [...months.values()].slice(-o.keepMonthly)) keep.add(key);
    const floor = cps.find((c) => keep.has(c.key))!;
    r.kept = cps.filter((c) => keep.has(c.key)).map((c) => c.key);
    r.floor = { key: floor.key, manifestVersion: floor.cp.manifestVersion, maxTimestamp: floor.cp.maxTimestamp };
    // The floor must be bound to the chain: its manifest version is there and hashes to what it recorded.
    const versions = await listManifestVersions(blobs, partition);
    const floorManifest = versions.find((v) => v.version === floor.cp.manifestVersion);
    const floorBytes = floorManifest ? await blobs.get(floorManifest.key) : undefined;
    if (!floorBytes || sha256Hex(floorBytes) !== floor.cp.manifestSha256) {
      r.refused = `checkpoint ${floor.key} is not bound to manifest version ${floor.cp.manifestVersion} (missing or another SHA-256)`;
      continue;
    }
    for (const c of cps) {
      if (keep.has(c.key)) continue;
      await blobs.delete(c.key);
      r.deletedCheckpoints.push(c.key);
    }
    for (const v of versions) {
      if (v.version > floor.cp.manifestVersion) break;
      const bytes = await blobs.get(v.key);
      const m = bytes ? await openManifest(bytes, v.key).catch(() => undefined) : undefined;
      if (!m || !(await blobs.head(m.segment.key))) continue;
      await blobs.delete(m.segment.key);
      r.deletedSegments.push(m.segment.key);
    }
  }
  return out;
}
