import type { BlobStore } from '../blob/port.js';
import { listManifestVersions, manifestKey, openManifest, type ManifestVersion } from './manifest.js';
import type { CatalogHead } from './events-catalog.js';
import { openSegment, sha256Hex, type Segment } from './segment.js';
import type { Keyring } from '../codec/keyring.js';
import { chainStart, checkpointAgents, listCheckpoints, openCheckpoint, type Checkpoint, type FoldedAgent } from './checkpoint.js';

/** A defect of the backup, named with the offsets it affects (issue 14: "named with its offsets"). */
export interface BackupProblem {
  kind:
    | 'manifest_missing'
    | 'manifest_corrupt'
    | 'manifest_chain'
    | 'offset_gap'
    | 'offset_overlap'
    | 'segment_missing'
    | 'segment_checksum'
    | 'segment_corrupt'
    | 'segment_mismatch'
    | 'checkpoint_corrupt'
    | 'checkpoint_chain'
    | 'catalog_corrupt';
  partition: number;
  /** Inclusive offsets affected, when known. */
  firstOffset?: string;
  lastOffset?: string;
  /** The blob key concerned. */
  key?: string;
  detail: string;
}

/** One step of walking a partition's backup in offset order. */
export type ChainStep =
  | { kind: 'segment'; manifest: ManifestVersion; segment: Segment; manifestSha256: string }
  | { kind: 'problem'; problem: BackupProblem }
  /** The walk starts at this checkpoint (first step, when it does): its agents' states, decrypted; offsets before `nextOffset` are not walked. */
  | { kind: 'checkpoint'; checkpoint: Checkpoint; key: string; agents: Map<string, FoldedAgent> };

export interface WalkOptions {
  /** Decrypts a starting checkpoint's encrypted states (without it they come back `locked`). */
  keyring?: Keyring;
  /** Start at the newest checkpoint that opens (writing the next checkpoint) instead of where the restorable chain starts. @default false */
  newestCheckpoint?: boolean;
  /** Stop after this manifest version. @default the head */
  throughVersion?: number;
  /**
   * When the walk starts at a checkpoint, still read manifest versions 1..its
   * version (not their segments, which the retention deleted) and name a
   * missing or unreadable one, or a break in their hash chain (`verify`). A
   * restore does not need them. @default false
   */
  checkRetired?: boolean;
  /**
   * The catalog's record of this partition's head (docs/backup.md "The
   * catalog"): a chain that ends before it lost its newest versions, which
   * is named (`manifest_missing`); one whose version there hashes otherwise
   * is named too (`manifest_chain`).
   */
  catalog?: CatalogHead;
}

const minus1 = (o: string): string => (BigInt(o) - 1n).toString();

/**
 * Walks a partition's manifest chain from where it starts (version 1, or
 * the checkpoint the retention left as the oldest point: yielded first, the
 * chain then checked from the version after it, whose `previous` must be
 * the checkpoint's manifest SHA-256) and yields each segment,
 * opened and checked (stored SHA-256, frame SHA-256, body, the entry's offsets
 * and count), or a problem naming the offsets it covers. Never throws for a
 * damaged backup; verify reports, restore refuses.
 */
export async function* walkPartition(blobs: BlobStore, partition: number, options: WalkOptions = {}): AsyncGenerator<ChainStep> {
  const versions = await listManifestVersions(blobs, partition);
  const byVersion = new Map(versions.map((v) => [v.version, v.key]));
  const max = Math.min(versions.at(-1)?.version ?? 0, options.throughVersion ?? Infinity);
  let prevSha: string | null = null;
  /** Offset after the last good version; null = unknown (after a damaged version). */
  let next: string | null = null;
  let pendingGapFrom: string | null = null;
  const shas = new Map<number, string>();
  let from = 1;
  const start = await startingCheckpoint(blobs, partition, options.newestCheckpoint === true, max);
  for (const p of start.problems) yield problem(p);
  if (start.checkpoint) {
    const cp = start.checkpoint;
    const vKey = byVersion.get(cp.manifestVersion);
    const vBytes = vKey ? await blobs.get(vKey) : undefined;
    if (vBytes && sha256Hex(vBytes) !== cp.manifestSha256) {
      yield problem({
        kind: 'checkpoint_chain',
        partition,
        key: start.key,
        lastOffset: minus1(cp.nextOffset),
        detail: `checkpoint ${start.key} names manifest version ${cp.manifestVersion} with SHA-256 ${cp.manifestSha256}, the stored version hashes to ${sha256Hex(vBytes)}`,
      });
    }
    if (options.checkRetired) yield* checkRetiredManifests(blobs, partition, byVersion, cp.manifestVersion);
    yield { kind: 'checkpoint', checkpoint: cp, key: start.key, agents: await checkpointAgents(cp, options.keyring, { lenient: !options.keyring }) };
    prevSha = cp.manifestSha256;
    next = cp.nextOffset;
    from = cp.manifestVersion + 1;
  }
  for (let version = from; version <= max; version++) {
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
    shas.set(version, sha);
    yield* checkSegment(blobs, partition, m, sha);
  }
  const recorded = options.catalog;
  if (!recorded || options.throughVersion !== undefined) return;
  if (recorded.version > max) {
    yield problem({
      kind: 'manifest_missing',
      partition,
      key: manifestKey(partition, recorded.version),
      ...(next !== null ? { firstOffset: next } : {}),
      lastOffset: minus1(recorded.nextOffset),
      detail: `the catalog names manifest version ${recorded.version} (offsets up to ${minus1(recorded.nextOffset)}); the chain ends at version ${max}: its newest versions were deleted`,
    });
  } else if (shas.has(recorded.version) && shas.get(recorded.version) !== recorded.sha256) {
    yield problem({
      kind: 'manifest_chain',
      partition,
      key: manifestKey(partition, recorded.version),
      lastOffset: minus1(recorded.nextOffset),
      detail: `the catalog names manifest version ${recorded.version} with SHA-256 ${recorded.sha256}, the stored version hashes to ${shas.get(recorded.version)}`,
    });
  }
}

/**
 * The checkpoint a walk starts at, if any: where the restorable chain starts
 * ({@link chainStart}), or the newest checkpoint that opens. A damaged oldest
 * checkpoint is a problem, and the walk goes on from the next one that opens
 * (the retention keeps every segment after the oldest checkpoint).
 */
async function startingCheckpoint(blobs: BlobStore, partition: number, newest: boolean, max: number): Promise<{ checkpoint?: Checkpoint; key: string; problems: BackupProblem[] }> {
  const problems: BackupProblem[] = [];
  if (!newest) {
    const s = await chainStart(blobs, partition);
    if (s.kind === 'segments') return { key: '', problems };
    if (s.kind === 'checkpoint') return { checkpoint: s.checkpoint, key: s.key, problems };
    problems.push({ kind: 'checkpoint_corrupt', partition, key: s.key, detail: `checkpoint ${s.key}, where the backup of this partition starts, is unreadable: ${s.detail}` });
  }
  const list = (await listCheckpoints(blobs, partition)).filter((c) => c.manifestVersion <= max);
  for (const c of newest ? list.reverse() : list.slice(1)) {
    const bytes = await blobs.get(c.key);
    const cp = bytes ? await openCheckpoint(bytes, c.key).catch(() => undefined) : undefined;
    if (cp) return { checkpoint: cp, key: c.key, problems };
  }
  return { key: '', problems };
}

/** Manifest versions 1..`through` behind a starting checkpoint: each present, readable and chained to the previous one (their segments are not read). */
async function* checkRetiredManifests(blobs: BlobStore, partition: number, byVersion: Map<number, string>, through: number): AsyncGenerator<ChainStep> {
  let prevSha: string | null = null;
  for (let version = 1; version <= through; version++) {
    const key = byVersion.get(version);
    const bytes = key ? await blobs.get(key) : undefined;
    if (!key || !bytes) {
      yield problem({ kind: 'manifest_missing', partition, key: key ?? `manifest version ${version}`, detail: `manifest version ${version} (behind the starting checkpoint) is missing` });
      prevSha = null;
      continue;
    }
    try {
      const m = await openManifest(bytes, key);
      if (m.version !== version || m.partition !== partition) throw new Error(`declares partition ${m.partition} version ${m.version}`);
      if (version > 1 && prevSha !== null && m.previous !== prevSha) {
        yield problem({
          kind: 'manifest_chain',
          partition,
          key,
          firstOffset: m.segment.firstOffset,
          lastOffset: m.segment.lastOffset,
          detail: `version ${version} names previous ${m.previous}, but version ${version - 1} hashes to ${prevSha}`,
        });
      }
      prevSha = sha256Hex(bytes);
    } catch (err) {
      yield problem({ kind: 'manifest_corrupt', partition, key, detail: `manifest version ${version} (behind the starting checkpoint) is unreadable: ${(err as Error).message}` });
      prevSha = null;
    }
  }
}

async function* checkSegment(blobs: BlobStore, partition: number, m: ManifestVersion, manifestSha256: string): AsyncGenerator<ChainStep> {
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
  yield { kind: 'segment', manifest: m, segment, manifestSha256 };
}

function problem(p: BackupProblem): ChainStep {
  return { kind: 'problem', problem: p };
}
