import type { BlobStore } from '../blob/port.js';
import type { EventCodec } from '../codec/event-codec.js';
import type { Keyring } from '../codec/keyring.js';
import { AgentStateError } from '../errors.js';
import { readableRecords, type ReadableRecords } from './crypt.js';
import { readEventRecord } from '../domain/record.js';
import { backupReader } from './changesets.js';
import { step, type Projection } from '../domain/reducer.js';
import { walkPartition, type BackupProblem } from './chain.js';
import { EVENTS_CATALOG_KEY, readEventsCatalog, type EventsCatalog } from './events-catalog.js';
import { BACKUP_ROOT, listBackupPartitions, listManifestVersions, openManifest } from './manifest.js';

/** A snapshot as the store records it (`state_snapshots`), for `--deep`: the fold at `version` must have `stateChecksum`. */
export interface SnapshotRef {
  snapshotId: string;
  version: number;
  stateChecksum: string;
}

/** A snapshot whose recorded checksum is not the fold of the backup's events at its version. */
export interface SnapshotMismatch {
  instanceId: string;
  snapshotId: string;
  version: number;
  /** What the snapshot record says. */
  snapshot: string;
  /** The fold of the backup at that version; null when the backup's events never reach that version as an accepted event. */
  backup: string | null;
}

/** An agent's head as another source records it (the state store), for `--deep`. */
export interface ExpectedHead {
  version: number;
  checksum: string;
}

export interface VerifyOptions {
  blobs: BlobStore;
  codec: EventCodec;
  /** Fold every agent's events and compare with `expected`. @default false */
  deep?: boolean;
  /** Heads to compare with (`--deep`); agents absent from the map are only folded. */
  expected?: (ids: string[]) => Promise<Map<string, ExpectedHead>>;
  /**
   * The snapshots of these agents (`--deep`): each is compared with the fold
   * of the backup at its version. Agents are those the manifests name.
   */
  snapshots?: (ids: string[]) => Promise<Map<string, SnapshotRef[]>>;
  /** Partitions the topic has (a partition with records but no manifest is then reported). */
  partitions?: number;
  /** Decrypts encrypted values (then checked too); without it they are counted as `locked`. */
  keyring?: Keyring;
}

/** A break in an agent's versions inside the backup: versions `from`+1 .. `to`-1 are in no segment. */
export interface VersionGap {
  instanceId: string;
  partition: number;
  offset: string;
  from: number;
  to: number;
}

export interface VerifyReport {
  ok: boolean;
  partitions: {
    partition: number;
    segments: number;
    records: number;
    firstOffset: string | null;
    nextOffset: string | null;
    bytes: number;
    /** Where the partition's backup starts when its older segments were deleted by the retention: the checkpoint, and the oldest time it restores to. */
    checkpoint?: { key: string; nextOffset: string; maxTimestamp: number; agents: number };
  }[];
  segments: number;
  records: number;
  agents: number;
  problems: BackupProblem[];
  /** Forward jumps of an agent's version in log order (the projector would reject the event after the jump). */
  versionGaps: VersionGap[];
  /** Records of crypto-shredded agents (value withheld or key destroyed): unreadable on purpose. */
  shredded: number;
  /** Encrypted records not checked past their checksums because no keyring was given. */
  locked: number;
  /** Segment objects no manifest names (left by a crash between segment and manifest writes); harmless. */
  unreferenced: string[];
  /** `--deep` only. */
  deep?: {
    folded: number;
    /** Events the projector would reject, by reason (they are in the log, and in the backup, as they were). */
    rejected: Record<string, number>;
    matched: number;
    /** Agents whose expected head is newer than the backup (not archived yet). */
    ahead: number;
    mismatched: { instanceId: string; backup: ExpectedHead; expected: ExpectedHead }[];
    /** With `snapshots`: every snapshot record compared with the fold at its version. */
    snapshots?: {
      checked: number;
      matched: number;
      /** Snapshots past the backup's last version of the agent (not archived yet). */
      ahead: number;
      /** Snapshots older than the checkpoint the backup starts at (their events were deleted by the retention): not checked. */
      beforeCheckpoint: number;
      mismatched: SnapshotMismatch[];
    };
  };
}

/**
 * `agentstate backup verify`: reads every segment, checks stored and frame
 * checksums, the manifest hash chain, contiguity of offsets, and per-agent
 * versions; `deep` folds every agent with the domain reducer (which checks
 * each event's state checksum) and compares the result with `expected`
 * (DESIGN.md Invariant 6).
 */
export async function verifyBackup(options: VerifyOptions): Promise<VerifyReport> {
  const { blobs, codec } = options;
  const found = await listBackupPartitions(blobs);
  const report: VerifyReport = { ok: true, partitions: [], segments: 0, records: 0, agents: 0, problems: [], versionGaps: [], unreferenced: [], shredded: 0, locked: 0 };
  // The catalog across the partitions: what tells a chain that lost its newest versions from a shorter one.
  let catalog: EventsCatalog | undefined;
  try {
    catalog = await readEventsCatalog(blobs);
  } catch (err) {
    report.problems.push({ kind: 'catalog_corrupt', partition: -1, key: EVENTS_CATALOG_KEY, detail: `the catalog across partitions is unreadable: ${(err as Error).message}` });
  }
  const partitions = [...new Set([...found, ...(catalog?.heads.map((h) => h.partition) ?? []), ...Array.from({ length: options.partitions ?? 0 }, (_, i) => i)])].sort((a, b) => a - b);
  /** Agents with records verify cannot read (shredded, locked): their versions and folds are not judged. */
  const unreadable = new Set<string>();
  const heads = new Map<string, number>();
  const projections = new Map<string, Projection | undefined>();
  const rejected: Record<string, number> = {};
  // Claim-checked changesets from the backup's copies (backup/changesets/...), through the one reading of the log.
  const decode = backupReader(codec, blobs, options.keyring);
  const referenced = new Set<string>();
  // --deep with snapshots: each agent's snapshot versions, compared as the fold passes them.
  const wanted = options.deep && options.snapshots ? await options.snapshots(await agentsInManifests(blobs, partitions)) : undefined;
  const snapshotReport = { checked: 0, matched: 0, ahead: 0, beforeCheckpoint: 0, mismatched: [] as SnapshotMismatch[] };
  const pendingSnaps = new Map<string, Map<number, SnapshotRef[]>>();
  for (const [id, list] of wanted ?? []) {
    const byVersion = new Map<number, SnapshotRef[]>();
    for (const s of list) byVersion.set(s.version, [...(byVersion.get(s.version) ?? []), s]);
    if (byVersion.size) pendingSnaps.set(id, byVersion);
  }
  const compareSnapshots = (id: string, p: Projection): void => {
    const snaps = pendingSnaps.get(id)?.get(p.version);
    if (!snaps) return;
    pendingSnaps.get(id)!.delete(p.version);
    for (const s of snaps) {
      snapshotReport.checked++;
      if (s.stateChecksum === p.checksum) snapshotReport.matched++;
      else snapshotReport.mismatched.push({ instanceId: id, snapshotId: s.snapshotId, version: s.version, snapshot: s.stateChecksum, backup: p.checksum });
    }
  };
  for (const partition of partitions) {
    const summary: VerifyReport['partitions'][number] = { partition, segments: 0, records: 0, firstOffset: null, nextOffset: null, bytes: 0 };
    const recorded = catalog?.heads.find((h) => h.partition === partition);
    for await (const s of walkPartition(blobs, partition, { checkRetired: true, ...(options.keyring ? { keyring: options.keyring } : {}), ...(recorded ? { catalog: recorded } : {}) })) {
      if (s.kind === 'problem') {
        report.problems.push(s.problem);
        if (s.problem.key) referenced.add(s.problem.key);
        continue;
      }
      if (s.kind === 'checkpoint') {
        // The chain starts here: each agent's head, and its state for the fold, as the checkpoint recorded them.
        summary.checkpoint = { key: s.key, nextOffset: s.checkpoint.nextOffset, maxTimestamp: s.checkpoint.maxTimestamp, agents: s.agents.size };
        summary.nextOffset = s.checkpoint.nextOffset;
        for (const [id, a] of s.agents) {
          heads.set(id, a.head);
          if (a.locked) report.locked++;
          if (a.locked || a.shredded) unreadable.add(id);
          if (!options.deep || !a.projection) continue;
          projections.set(id, a.projection);
          const byVersion = pendingSnaps.get(id);
          for (const v of [...(byVersion?.keys() ?? [])].filter((v) => v < a.projection!.version)) {
            snapshotReport.beforeCheckpoint += byVersion!.get(v)!.length;
            byVersion!.delete(v);
          }
          compareSnapshots(id, a.projection);
        }
        continue;
      }
      const { manifest, segment } = s;
      referenced.add(manifest.segment.key);
      summary.segments++;
      summary.records += segment.count;
      summary.bytes += manifest.segment.storedBytes;
      summary.firstOffset ??= segment.firstOffset;
      summary.nextOffset = manifest.nextOffset;
      let readable: ReadableRecords;
      try {
        readable = await readableRecords(segment, options.keyring);
      } catch (err) {
        if (!(err instanceof AgentStateError && err.code === 'AS_KEY' && !options.keyring)) {
          const seg = manifest.segment;
          report.problems.push({ kind: 'segment_corrupt', partition, key: seg.key, firstOffset: seg.firstOffset, lastOffset: seg.lastOffset, detail: `values do not decrypt: ${(err as Error).message}` });
          continue;
        }
        const locked = segment.records.filter((r) => r.encoding === 1);
        report.locked += locked.length;
        for (const r of locked) unreadable.add(r.key);
        readable = { records: segment.records.filter((r) => (r.encoding ?? 0) === 0), shredded: segment.records.filter((r) => r.encoding === 2).map((r) => r.offset) };
      }
      report.shredded += readable.shredded.length;
      const shreddedAt = new Set(readable.shredded);
      for (const r of segment.records) if (shreddedAt.has(r.offset)) unreadable.add(r.key);
      for (const r of readable.records) {
        const reading = await readEventRecord(r, decode);
        if (reading.kind !== 'event') continue;
        const e = reading.event;
        const last = heads.get(r.key) ?? 0;
        if (e.version > last + 1) report.versionGaps.push({ instanceId: r.key, partition, offset: r.offset, from: last, to: e.version });
        if (e.version > last) heads.set(r.key, e.version);
        if (options.deep) {
          const result = step(projections.get(r.key), e);
          if (result.accept) {
            projections.set(r.key, result.projection);
            compareSnapshots(r.key, result.projection);
          } else {
            if (!projections.has(r.key)) projections.set(r.key, undefined);
            rejected[result.reason] = (rejected[result.reason] ?? 0) + 1;
          }
        }
      }
    }
    report.partitions.push(summary);
    report.segments += summary.segments;
    report.records += summary.records;
  }
  for await (const info of blobs.list(`${BACKUP_ROOT}/`)) {
    if (/\/segments\//.test(info.key) && !referenced.has(info.key)) report.unreferenced.push(info.key);
  }
  report.versionGaps = report.versionGaps.filter((g) => !unreadable.has(g.instanceId));
  for (const id of unreadable) projections.delete(id);
  // Snapshots the fold never passed: past the backup's head (not archived yet), or at a version the backup cannot produce.
  for (const [id, byVersion] of pendingSnaps) {
    if (unreadable.has(id)) continue;
    // The highest version the backup holds for the agent, accepted by the fold or not.
    const head = heads.get(id) ?? 0;
    for (const snaps of byVersion.values()) {
      for (const s of snaps) {
        snapshotReport.checked++;
        if (s.version > head) snapshotReport.ahead++;
        else snapshotReport.mismatched.push({ instanceId: id, snapshotId: s.snapshotId, version: s.version, snapshot: s.stateChecksum, backup: null });
      }
    }
  }
  report.agents = heads.size;
  if (options.deep) {
    const folded = [...projections.entries()].filter((e): e is [string, Projection] => e[1] !== undefined);
    const deep: NonNullable<VerifyReport['deep']> = { folded: folded.length, rejected, matched: 0, ahead: 0, mismatched: [] };
    const expected = options.expected ? await options.expected(folded.map(([id]) => id)) : new Map<string, ExpectedHead>();
    for (const [id, p] of folded) {
      const want = expected.get(id);
      if (!want) continue;
      if (want.version > p.version) deep.ahead++;
      else if (want.version === p.version && want.checksum === p.checksum) deep.matched++;
      else deep.mismatched.push({ instanceId: id, backup: { version: p.version, checksum: p.checksum }, expected: want });
    }
    if (wanted) deep.snapshots = snapshotReport;
    report.deep = deep;
  }
  report.ok = report.problems.length === 0 && (report.deep?.mismatched.length ?? 0) === 0 && (report.deep?.snapshots?.mismatched.length ?? 0) === 0;
  return report;
}

/** Agents the manifests name (no segment is read): whose snapshots `--deep` fetches. */
async function agentsInManifests(blobs: BlobStore, partitions: number[]): Promise<string[]> {
  const ids = new Set<string>();
  for (const p of partitions) {
    for (const v of await listManifestVersions(blobs, p)) {
      const bytes = await blobs.get(v.key);
      const m = bytes ? await openManifest(bytes, v.key).catch(() => undefined) : undefined;
      for (const id of Object.keys(m?.segment.agents ?? {})) ids.add(id);
    }
  }
  return [...ids];
}
