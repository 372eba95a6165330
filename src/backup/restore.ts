import type { BlobStore } from '../blob/port.js';
import type { EventCodec } from '../codec/event-codec.js';
import type { Keyring } from '../codec/keyring.js';
import { readableRecords } from './crypt.js';
import { readEventRecord } from '../domain/record.js';
import { BACKUP_CHANGESETS_PREFIX, backupReader, copyChangesets, openFromBackup, prefixedBlobs } from './changesets.js';
import { step, type Projection } from '../domain/reducer.js';
import { AgentStateError, ConflictError, KeyError } from '../errors.js';
import type { EventLog, LogRecord } from '../log/port.js';
import { topicNames } from '../log/topics.js';
import type { TopicCheck } from '../log/port.js';
import { readArchivedTopics, restoredTopicSpecs, type LoweredReplication, type ReplicationChoice } from './topics.js';
import type { StateStore } from '../store/port.js';
import { walkPartition, type BackupProblem } from './chain.js';
import { readEventsCatalog } from './events-catalog.js';
import { RestorePointTooOldError, oldestRestorableTime, type AgentMeta } from './checkpoint.js';
import { listBackupPartitions, listManifestVersions, openManifest } from './manifest.js';
import type { SegmentRecord } from './segment.js';
import { DEFAULT_REPUBLISH_OPTIONS } from './options.js';
import { positiveInt } from '../util/options.js';

/** Progress of a restore, reported after each appended chunk. */
export interface RestoreProgress {
  partition: number;
  /** Records of this partition republished so far by this run. */
  published: number;
  /** Records the target already held (an earlier, interrupted run). */
  present: number;
  bytes: number;
}

export interface RepublishOptions {
  /** The backup. */
  blobs: BlobStore;
  /** The target log: empty, or holding what an interrupted restore appended. */
  target: EventLog;
  /** The target's blob store: claim-checked changesets are copied there (`changesets/...`) before the events naming them are appended. */
  targetBlobs: BlobStore;
  /** Decodes the restored values (after `mapValue`), for the fold the restore is verified against. */
  codec: EventCodec;
  /** @default 'agentstate.' */
  topicPrefix?: string;
  /**
   * Point in time (ms): each record key (agent) is restored up to its first
   * record stamped after this, so every agent gets the prefix of its history
   * at that time (what `projectStateAtTime` answers on the source). @default latest
   */
  to?: number;
  /** Restore only these record keys (agents); @default every key */
  agents?: ReadonlySet<string>;
  /**
   * Rewrites a value before it is appended (the schema id of a Confluent
   * frame, when the target registry numbers schemas differently). Must be a
   * pure function of the value: a resumed run compares its output with what
   * the target holds.
   */
  mapValue?: (value: Buffer) => Promise<Buffer>;
  /**
   * Cross a damaged part of the backup instead of stopping at it: records in
   * two segments are taken once, and each agent whose versions jump past the
   * damage is stopped at its last contiguous version (reported in `gapAgents`).
   * @default false
   */
  allowGap?: boolean;
  /** @default 500 */
  chunkRecords?: number;
  /**
   * The replication factor of the topics created (and `min.insync.replicas`
   * lowered to it where above). A recorded factor above the target's broker
   * count is lowered to that count either way, and reported. @default the backup's recorded factor
   */
  replicationFactor?: number;
  /** Needed when the backup's values are encrypted. Records of crypto-shredded agents are not republished. */
  keyring?: Keyring;
  onProgress?: (p: RestoreProgress) => void;
  /**
   * Called once the target's topics exist, before any record is appended: a
   * projector may start then and fold the records as they arrive.
   */
  onTopicsReady?: () => void;
  /**
   * Called with the agents a partition's starting checkpoint holds, before
   * any record of that partition is appended: their rows must be in the
   * target store before a projector folds the records after the checkpoint.
   */
  onSeeds?: (seeds: RepublishResult['seeds']) => Promise<void>;
}

export interface RepublishResult {
  partitions: number;
  /** Records appended by this run. */
  published: number;
  /** Records the target already held. */
  present: number;
  bytes: number;
  /** Records left out because their agent was crypto-shredded (and agents whose checkpoint state is unreadable for that reason). */
  shredded: number;
  /** Each agent's projection: the fold of the restored events (what the projector must reach). */
  projections: Map<string, Projection>;
  /** With `allowGap`: the damage crossed. */
  problems: BackupProblem[];
  /** With `allowGap`: agents stopped at their last contiguous version, and the version the backup has next. */
  gapAgents: { instanceId: string; partition: number; version: number; nextInBackup: number }[];
  /** The target's topics, created with the backup's recorded configurations (or the default layout when it has none). */
  topics: TopicCheck[];
  /** Topics created with another replication factor than the backup recorded: `replicationFactor` given, or the target has fewer brokers. */
  replication: LoweredReplication[];
  /**
   * Agents whose restore starts at a checkpoint (the backup's segments before
   * it were deleted by the retention): their state at the checkpoint, to be
   * written into the target store before its projector folds the records
   * republished after it.
   */
  seeds: { instanceId: string; partition: number; projection: Projection; meta: AgentMeta }[];
  /** Partitions whose restore started at a checkpoint: the checkpoint's key and the first offset republished. */
  checkpoints: { partition: number; key: string; nextOffset: string }[];
}

/** A restore that meets a damaged backup stops there (issue 14: "refuses to cross it"). */
export class BackupDamagedError extends AgentStateError {
  constructor(readonly problem: BackupProblem) {
    super('AS_CHECKSUM_MISMATCH', `backup partition ${problem.partition} is damaged at offsets ${problem.firstOffset ?? '?'}-${problem.lastOffset ?? '?'} (${problem.kind}: ${problem.detail}); restore stopped before it`);
  }
}

async function partitionCount(blobs: BlobStore, partitions: number[]): Promise<number> {
  let n = 0;
  for (const p of partitions) {
    const [first] = await listManifestVersions(blobs, p);
    if (!first) continue;
    const bytes = await blobs.get(first.key);
    if (bytes) n = Math.max(n, (await openManifest(bytes, first.key)).partitions, p + 1);
  }
  return n;
}

const sameRecord = (a: SegmentRecord, b: { key: string; value: Buffer | null; timestamp: number }): boolean =>
  a.key === b.key && a.timestamp === b.timestamp && (a.value === null ? b.value === null : b.value !== null && a.value.equals(b.value));

/**
 * Republishes the archived events into `target`, partition by partition in
 * offset order (so per-agent order holds, and every record keeps its key,
 * headers and timestamp). Resumable: each target partition holds a prefix
 * of the backup's partition (checked at its last record), and only the
 * records past it are appended, so a re-run continues and never duplicates.
 * @throws BackupDamagedError at the first damaged segment or manifest
 * @throws ConflictError when the target holds something else
 */
export async function republish(options: RepublishOptions): Promise<RepublishResult> {
  const { blobs, target, codec } = options;
  const { topicPrefix: prefix, chunkRecords: chunk } = { ...DEFAULT_REPUBLISH_OPTIONS, ...options };
  positiveInt(chunk, 'chunkRecords');
  const topic = topicNames(prefix).events;
  const found = await listBackupPartitions(blobs);
  const partitions = await partitionCount(blobs, found);
  // A point in time before the oldest the backup still holds (older segments deleted by the retention) is refused before any record is appended.
  const oldest = options.to !== undefined && !options.agents ? await oldestRestorableTime(blobs, found) : undefined;
  if (oldest !== undefined && options.to! < oldest) throw new RestorePointTooOldError(options.to!, oldest, 'restore');
  // The topics as the source had them (partitions, cleanup policy, retention, max message bytes, ...).
  const replication: ReplicationChoice = { ...(options.replicationFactor !== undefined ? { replicationFactor: options.replicationFactor } : {}), ...(target.brokerCount ? { brokers: await target.brokerCount() } : {}) };
  const layout = restoredTopicSpecs(await readArchivedTopics(blobs), prefix, partitions, replication);
  const topics = partitions > 0 ? await target.setup(layout.specs) : [];
  const ends = partitions > 0 ? await target.endOffsets(topic) : {};
  const starts = partitions > 0 ? await target.startOffsets(topic) : {};
  if (partitions > 0 && Object.keys(ends).length !== partitions) {
    throw new ConflictError(`target ${topic} has ${Object.keys(ends).length} partitions, the backup ${partitions}: records would land in other partitions`);
  }
  if (partitions > 0) options.onTopicsReady?.();
  const result: RepublishResult = {
    partitions,
    published: 0,
    present: 0,
    bytes: 0,
    shredded: 0,
    projections: new Map(),
    problems: [],
    gapAgents: [],
    topics,
    replication: partitions > 0 ? layout.lowered : [],
    seeds: [],
    checkpoints: [],
  };
  const folded = new Map<string, Projection | undefined>();
  const decode = backupReader(codec, blobs, options.keyring);
  const backupChangesets = prefixedBlobs(blobs, BACKUP_CHANGESETS_PREFIX);
  const plain = openFromBackup(options.keyring);
  const partitionOf = new Map<string, number>();
  // Keys whose history is cut at `to`: their later records stay out even when stamped earlier (a per-agent prefix).
  const cut = new Set<string>();
  const keep = (r: SegmentRecord): boolean => {
    if (options.agents && !options.agents.has(r.key)) return false;
    if (cut.has(r.key)) return false;
    if (options.to === undefined || r.timestamp <= options.to) return true;
    cut.add(r.key);
    return false;
  };
  const mapValue = options.mapValue;
  /** After damage: an agent whose next event is not its version + 1 lost events in it; it stops where it is. */
  const jumpsPastGap = async (r: SegmentRecord, partition: number): Promise<boolean> => {
    const reading = await readEventRecord(r, decode).catch(() => undefined);
    if (reading?.kind !== 'event') return false;
    const have = folded.get(r.key)?.version ?? 0;
    if (reading.event.version <= have + 1) return false;
    cut.add(r.key);
    result.gapAgents.push({ instanceId: r.key, partition, version: have, nextInBackup: reading.event.version });
    return true;
  };
  // The catalog names each partition's newest manifest version: a chain that lost its newest versions (or a
  // partition that lost them all) is damage a restore must not take for the whole backup. A damaged catalog
  // is verify's to name; the manifests are still the truth.
  const catalog = await readEventsCatalog(blobs).catch(() => undefined);
  const walked = [...new Set([...found, ...(catalog?.heads.map((h) => h.partition) ?? [])])].sort((a, b) => a - b);
  for (const p of walked) {
    const have = BigInt(ends[p] ?? '0') - BigInt(starts[p] ?? '0');
    let index = 0n;
    const progress: RestoreProgress = { partition: p, published: 0, present: 0, bytes: 0 };
    let pending: SegmentRecord[] = [];
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      const records: LogRecord[] = pending.map((r) => ({ key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp }));
      // Blobs first, then the records naming them (the target's readers never meet a dangling reference).
      await copyChangesets(pending, codec, backupChangesets, options.targetBlobs, plain);
      await target.append(topic, records);
      progress.published += records.length;
      progress.bytes += pending.reduce((n, r) => n + (r.value?.length ?? 0), 0);
      pending = [];
      options.onProgress?.({ ...progress });
    };
    let damaged = false;
    let lastOffset = -1n;
    const recorded = catalog?.heads.find((h) => h.partition === p);
    for await (const s of walkPartition(blobs, p, { ...(options.keyring ? { keyring: options.keyring } : {}), ...(recorded ? { catalog: recorded } : {}) })) {
      if (s.kind === 'problem') {
        if (!options.allowGap) {
          await flush();
          throw new BackupDamagedError(s.problem);
        }
        result.problems.push(s.problem);
        damaged = true;
        continue;
      }
      if (s.kind === 'checkpoint') {
        // The segments before it are gone: each agent starts from its state at the checkpoint.
        const mine = [...s.agents].filter(([id]) => !options.agents || options.agents.has(id));
        if (options.to !== undefined && options.to < s.checkpoint.maxTimestamp && mine.length > 0) {
          throw new RestorePointTooOldError(options.to, s.checkpoint.maxTimestamp, `backup partition ${p} starts at checkpoint ${s.key}`);
        }
        result.checkpoints.push({ partition: p, key: s.key, nextOffset: s.checkpoint.nextOffset });
        lastOffset = BigInt(s.checkpoint.nextOffset) - 1n;
        const seeds: RepublishResult['seeds'] = [];
        for (const [id, a] of mine) {
          if (a.locked) throw new KeyError(`checkpoint ${s.key} holds encrypted states: the master keys (AGENTSTATE_MASTER_KEYS[_FILE]) and data keys are needed`);
          if (a.shredded || !a.projection || !a.meta) {
            if (a.shredded) result.shredded++;
            continue;
          }
          folded.set(id, a.projection);
          seeds.push({ instanceId: id, partition: p, projection: a.projection, meta: a.meta });
        }
        await options.onSeeds?.(seeds);
        result.seeds.push(...seeds);
        continue;
      }
      const readable = await readableRecords(s.segment, options.keyring);
      result.shredded += readable.shredded.length;
      for (const original of readable.records) {
        // Past damage, an overlap must not republish a record twice.
        if (BigInt(original.offset) <= lastOffset) continue;
        lastOffset = BigInt(original.offset);
        if (!keep(original)) continue;
        const r = mapValue && original.value ? { ...original, value: await mapValue(original.value) } : original;
        if (damaged && (await jumpsPastGap(r, p))) continue;
        if (index < have) {
          if (index === have - 1n) {
            const end = BigInt(ends[p]!);
            const [last] = await target.read(topic, p, (end - 1n).toString(), end.toString());
            if (!last || !sameRecord(r, last)) throw new ConflictError(`target ${topic} partition ${p} is not a prefix of the backup (its record ${end - 1n} differs from the backup's record ${r.offset})`);
          }
          progress.present++;
        } else {
          let tp = partitionOf.get(r.key);
          if (tp === undefined) partitionOf.set(r.key, (tp = await target.partitionFor(topic, r.key)));
          if (tp !== p) throw new ConflictError(`target ${topic} puts key ${JSON.stringify(r.key)} in partition ${tp}, the backup has it in ${p}`);
          pending.push(r);
          if (pending.length >= chunk) await flush();
        }
        index++;
        const reading = await readEventRecord(r, decode);
        if (reading.kind === 'event') {
          const out = step(folded.get(r.key), reading.event);
          if (out.accept) folded.set(r.key, out.projection);
        }
      }
    }
    await flush();
    if (have > index) throw new ConflictError(`target ${topic} partition ${p} holds ${have} records, more than the backup's ${index} up to the restore point`);
    result.published += progress.published;
    result.present += progress.present;
    result.bytes += progress.bytes;
  }
  for (const [id, p] of folded) if (p) result.projections.set(id, p);
  return result;
}

/** An agent whose restored state differs from the fold of the backup. */
export interface RestoreMismatch {
  instanceId: string;
  expected: { version: number; checksum: string };
  restored: { version: number; checksum: string } | null;
}

/**
 * Compares every agent's restored head (version + checksum) with the fold of
 * the backup (DESIGN.md Invariant 6: a restore verifies before it reports
 * success). Also reports agents the store has and the backup does not.
 */
export async function verifyRestored(store: StateStore, projections: Map<string, Projection>): Promise<{ checked: number; mismatched: RestoreMismatch[]; extra: string[] }> {
  const ids = [...projections.keys()];
  const mismatched: RestoreMismatch[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    const page = ids.slice(i, i + 500);
    const states = await store.getStates(page);
    for (const id of page) {
      const want = projections.get(id)!;
      const got = states.get(id);
      if (!got || got.version !== want.version || got.checksum !== want.checksum) {
        mismatched.push({ instanceId: id, expected: { version: want.version, checksum: want.checksum }, restored: got ? { version: got.version, checksum: got.checksum } : null });
      }
    }
  }
  const extra: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.listAgents({ ...(after !== undefined ? { afterId: after } : {}), limit: 1000 });
    for (const id of page) if (!projections.has(id)) extra.push(id);
    if (page.length < 1000) break;
    after = page.at(-1);
  }
  return { checked: ids.length, mismatched, extra };
}
