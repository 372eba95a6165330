import type { BlobStore } from '../blob/port.js';
import { listManifestVersions, openManifest, type ManifestVersion } from './manifest.js';
import { openSegment, sha256Hex, type Segment } from './segment.js';

/** A defect of the backup, named with the offsets it affects (issue 14: "named with its offsets"). */
export interface BackupProblem {
  kind: 'manifest_missing' | 'manifest_corrupt' | 'manifest_chain' | 'offset_gap' | 'offset_overlap' | 'segment_missing' | 'segment_checksum' | 'segment_corrupt' | 'segment_mismatch';
  partition: number;
  /** Inclusive offsets affected, when known. */
  firstOffset?: string;
  lastOffset?: string;
  /** The blob key concerned. */
  key?: string;
  detail: string;
}

/** One step of walking a partition's backup in offset order. */
export type ChainStep = { kind: 'segment'; manifest: ManifestVersion; segment: Segment } | { kind: 'problem'; problem: BackupProblem };

const minus1 = (o: string): string => (BigInt(o) - 1n).toString();

/**
 * Walks a partition's manifest chain from version 1 and yields each segment,
 * opened and checked (stored SHA-256, frame SHA-256, body, the entry's offsets
 * and count), or a problem naming the offsets it covers. Never throws for a
 * damaged backup; verify reports, restore refuses.
 */
export async function* walkPartition(blobs: BlobStore, partition: number): AsyncGenerator<ChainStep> {
  const versions = await listManifestVersions(blobs, partition);
  const byVersion = new Map(versions.map((v) => [v.version, v.key]));
  const max = versions.at(-1)?.version ?? 0;
  let prevSha: string | null = null;
  /** Offset after the last good version; null = unknown (after a damaged version). */
  let next: string | null = null;
  let pendingGapFrom: string | null = null;
  for (let version = 1; version <= max; version++) {
    const key = byVersion.get(version);
    const bytes = key ? await blobs.get(key) : undefined;
    let m: ManifestVersion | undefined;
    if (!key || !bytes) {
      pendingGapFrom ??= next;
      yield problem({ kind: 'manifest_missing', partition, key: key ?? `manifest version ${version}`, detail: `manifest version ${version} is missing`, ...(next !== null ? { firstOffset: next } : {}) });
      prevSha = null;
      next = null;
      continue;
    }
    try {
      m = await openManifest(bytes, key);
      if (m.version !== version || m.partition !== partition) throw new Error(`declares partition ${m.partition} version ${m.version}`);
    } catch (err) {
      pendingGapFrom ??= next;
      yield problem({ kind: 'manifest_corrupt', partition, key, detail: `manifest version ${version} is unreadable: ${(err as Error).message}`, ...(next !== null ? { firstOffset: next } : {}) });
      prevSha = null;
      next = null;
      continue;
    }
    const sha = sha256Hex(bytes);
    const seg = m.segment;
    if (pendingGapFrom !== null || next === null) {
      // After damaged versions: name the range they covered, now that the next good one bounds it.
      if (version > 1 && pendingGapFrom === null) {
        yield problem({ kind: 'offset_gap', partition, lastOffset: minus1(seg.firstOffset), detail: `offsets up to ${minus1(seg.firstOffset)} are in no readable manifest version` });
      } else if (version > 1 && pendingGapFrom !== null && BigInt(seg.firstOffset) > BigInt(pendingGapFrom)) {
        yield problem({
          kind: 'offset_gap',
          partition,
          firstOffset: pendingGapFrom,
          lastOffset: minus1(seg.firstOffset),
          detail: `offsets ${pendingGapFrom}-${minus1(seg.firstOffset)} are in no readable manifest version`,
        });
      }
      pendingGapFrom = null;
    } else {
      if (m.previous !== prevSha) {
        yield problem({
          kind: 'manifest_chain',
          partition,
          key,
          firstOffset: seg.firstOffset,
          lastOffset: seg.lastOffset,
          detail: `version ${version} names previous ${m.previous}, but version ${version - 1} hashes to ${prevSha}`,
        });
      }
      if (BigInt(seg.firstOffset) > BigInt(next)) {
        yield problem({ kind: 'offset_gap', partition, firstOffset: next, lastOffset: minus1(seg.firstOffset), detail: `offsets ${next}-${minus1(seg.firstOffset)} are in no segment` });
      } else if (BigInt(seg.firstOffset) < BigInt(next)) {
        yield problem({ kind: 'offset_overlap', partition, key: seg.key, firstOffset: seg.firstOffset, lastOffset: minus1(next), detail: `offsets ${seg.firstOffset}-${minus1(next)} are in two segments` });
      }
    }
    prevSha = sha;
    next = m.nextOffset;
    yield* checkSegment(blobs, partition, m);
  }
}

async function* checkSegment(blobs: BlobStore, partition: number, m: ManifestVersion): AsyncGenerator<ChainStep> {
  const seg = m.segment;
  const range = { partition, key: seg.key, firstOffset: seg.firstOffset, lastOffset: seg.lastOffset };
  const bytes = await blobs.get(seg.key);
  if (!bytes) return yield problem({ ...range, kind: 'segment_missing', detail: `segment of offsets ${seg.firstOffset}-${seg.lastOffset} is missing` });
  const sha = sha256Hex(bytes);
  if (sha !== seg.sha256) {
    yield problem({
      ...range,
      kind: 'segment_checksum',
      detail: `segment of offsets ${seg.firstOffset}-${seg.lastOffset}: stored bytes hash to ${sha}, manifest says ${seg.sha256} (${bytes.length} bytes, manifest says ${seg.storedBytes})`,
    });
    return;
  }
  let segment: Segment & { bodySha256: string };
  try {
    segment = await openSegment(bytes);
  } catch (err) {
    return yield problem({ ...range, kind: 'segment_corrupt', detail: `segment of offsets ${seg.firstOffset}-${seg.lastOffset} does not open: ${(err as Error).message}` });
  }
  if (segment.firstOffset !== seg.firstOffset || segment.lastOffset !== seg.lastOffset || segment.count !== seg.records || segment.partition !== partition || segment.bodySha256 !== seg.bodySha256) {
    return yield problem({
      ...range,
      kind: 'segment_mismatch',
      detail: `segment holds partition ${segment.partition} offsets ${segment.firstOffset}-${segment.lastOffset} (${segment.count} records), manifest says ${seg.firstOffset}-${seg.lastOffset} (${seg.records})`,
    });
  }
  yield { kind: 'segment', manifest: m, segment };
}

function problem(p: BackupProblem): ChainStep {
  return { kind: 'problem', problem: p };
}
