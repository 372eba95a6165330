import { DEFAULT_TOPIC_PREFIX, analyticsGroup, projectorGroup } from '../log/topics.js';
import type { Logger } from 'pino';
import type { BlobStore } from '../blob/port.js';
import type { EventCodec } from '../codec/event-codec.js';
import type { Keyring } from '../codec/keyring.js';
import type { SchemaArchive } from './schemas.js';
import type { DataKeyStore } from '../store/data-keys.js';
import type { RegistryCodec } from '../codec/registry.js';
import type { StateStore } from '../store/port.js';
import { COMPRESSION_ALGORITHMS, type CompressionAlgorithm } from '../codec/compression.js';
import { ConfigError } from '../errors.js';
import { nonNegativeInt, positiveInt } from '../util/options.js';
import type { EventLog } from '../log/port.js';
import type { Metrics } from '../telemetry/metrics.js';

/** The backup consumer group on the events topic, by default: `<prefix>backup`. */
export function backupGroup(prefix = DEFAULT_TOPIC_PREFIX): string {
  return `${prefix}backup`;
}

export interface ArchiverOptions {
  log: EventLog;
  /** Where segments and manifests go (S3 on servers, the data dir's blobs embedded). */
  blobs: BlobStore;
  /** Decodes event records, only to list the agents and versions a segment touches. */
  codec: EventCodec;
  /**
   * The deployment's blob store, where the writers put claim-checked
   * changesets (`changesets/...`); the archiver copies those its segments
   * name into the backup. @default `blobs` (the CLI's backup lives in the deployment's blob store)
   */
  changesets?: BlobStore;
  /** @default 'agentstate.' */
  topicPrefix?: string;
  /** @default `<topicPrefix>backup` */
  group?: string;
  /** A segment closes once its records' bytes reach this. @default 8388608 (8 MiB) */
  segmentMaxBytes?: number;
  /** A segment closes this long after its first record arrived. @default 30000 */
  segmentMaxAgeMs?: number;
  /** @default 'lz4' */
  compression?: CompressionAlgorithm;
  /** How often lag and RPO are refreshed (and aged segments checked). @default 1000 */
  tickMs?: number;
  /** Wait before restarting a failed consumer. @default 1000 */
  restartDelayMs?: number;
  /** @default 30000 */
  sessionTimeoutMs?: number;
  /** @default 500 */
  maxBatchRecords?: number;
  /**
   * Encrypts each archived value under its agent's data key (docs/backup.md
   * "Encryption"); omitted = values archived as the log holds them. A restore
   * then needs the same master keys and the data keys.
   */
  keyring?: Keyring;
  /**
   * Archives the registry schema of every schema id a segment's values use,
   * before the segment (docs/backup.md "Registry schemas"); omitted = values
   * are not registry-framed (JSON events) or the registry is backed up otherwise.
   */
  schemas?: SchemaArchive;
  /**
   * The data keys (wrapped, as the DataKeyStore port holds them) and the shred
   * list go into the backup too (docs/backup.md "Data keys and the shred
   * list"): the keys a segment uses before the segment, every key and shred
   * every `keysSyncMs`. Omitted = no key in the backup (nothing encrypted).
   */
  dataKeys?: DataKeyStore;
  /** How often the whole key store is compared with the backup's copy (shreds, rotations). @default 60000 */
  keysSyncMs?: number;
  /**
   * The registry whose subjects `<topicPrefix>...` (every version, id, text
   * and compatibility level) go into the backup (docs/backup.md "Registry
   * subjects"); omitted = no registry (embedded, JSON events).
   */
  registry?: Pick<RegistryCodec, 'listSubjects' | 'subjectVersions' | 'compatibilityOf'>;
  /**
   * The state store whose snapshot catalog (`state_snapshots`: metadata
   * only, the bodies are referenced where they are) goes into the backup
   * (docs/backup.md "Snapshot catalog"); omitted = no catalog in the backup.
   */
  catalog?: Pick<StateStore, 'listAgents' | 'listSnapshots'>;
  /**
   * How often the topic configurations, the registry subjects and the
   * snapshot catalog are compared with the backup's copies (and written
   * when they changed); also once at start and once at stop. @default 60000
   */
  metadataSyncMs?: number;
  /**
   * How often the backup's retention runs (docs/backup.md "Retention"):
   * segment objects no manifest version names, older than `orphanGraceMs`,
   * are deleted; a segment a manifest names is never deleted. 0 = never.
   * @default 3600000
   */
  pruneIntervalMs?: number;
  /** An unreferenced segment object younger than this is kept (an archiver may be between its segment and manifest writes). @default 86400000 */
  orphanGraceMs?: number;
  /**
   * On the retention's schedule (`pruneIntervalMs`), write a checkpoint at
   * each partition's manifest head when its newest checkpoint is this old
   * (docs/backup.md "Checkpoints"). 0 = never. Needed by `keepDays`.
   * @default 0
   */
  checkpointIntervalMs?: number;
  /**
   * Keep every restore point of the last N days; segments older than the
   * oldest kept checkpoint are deleted (docs/backup.md "Retention"). 0 = keep
   * everything. Needs `checkpointIntervalMs` > 0 and `pruneIntervalMs` > 0.
   * @default 0
   */
  keepDays?: number;
  /** Beyond `keepDays`, also keep the newest checkpoint of each of the last N calendar months (UTC). @default 0 */
  keepMonthly?: number;
  /**
   * Caps the events topic behind the backup (docs/backup.md "Capping the
   * events topic"): on the retention's schedule, records older than this
   * (ms) that are archived and consumed by `trimLogGroups` are deleted from
   * the log; their history is then in the backup only. 0 = never.
   * @default 0
   */
  trimLogAfterMs?: number;
  /** Groups that must have consumed a record before the cap deletes it; the first must have a position. @default [`<topicPrefix>projector`, `<topicPrefix>analytics`] */
  trimLogGroups?: [string, ...string[]];
  metrics?: Metrics;
  logger?: Logger;
  /** Clock (tests). @default Date.now */
  now?: () => number;
}

export type ResolvedArchiverOptions = Required<Omit<ArchiverOptions, 'metrics' | 'logger' | 'keyring' | 'schemas' | 'dataKeys' | 'registry' | 'catalog'>> &
  Pick<ArchiverOptions, 'metrics' | 'logger' | 'keyring' | 'schemas' | 'dataKeys' | 'registry' | 'catalog'>;

/** What {@link resolveArchiverOptions} applies for each field not given (the `@default` tags of ArchiverOptions say the same; test/unit/config/defaults.unit.test.ts checks). */
export const DEFAULT_ARCHIVER_OPTIONS = Object.freeze({
  topicPrefix: DEFAULT_TOPIC_PREFIX,
  segmentMaxBytes: 8 * 1024 * 1024,
  segmentMaxAgeMs: 30_000,
  compression: 'lz4' as CompressionAlgorithm,
  tickMs: 1000,
  restartDelayMs: 1000,
  sessionTimeoutMs: 30_000,
  maxBatchRecords: 500,
  keysSyncMs: 60_000,
  metadataSyncMs: 60_000,
  pruneIntervalMs: 3_600_000,
  orphanGraceMs: 86_400_000,
  checkpointIntervalMs: 0,
  keepDays: 0,
  keepMonthly: 0,
  trimLogAfterMs: 0,
});

/** Fills defaults and validates once (STYLE.md habit 5). @throws ConfigError naming the field */
export function resolveArchiverOptions(o: ArchiverOptions): ResolvedArchiverOptions {
  const r = { ...DEFAULT_ARCHIVER_OPTIONS, ...o };
  if (!(COMPRESSION_ALGORITHMS as readonly string[]).includes(r.compression)) throw new ConfigError('compression', `"${r.compression}" is not one of ${COMPRESSION_ALGORITHMS.join(', ')}`);
  for (const field of ['segmentMaxBytes', 'segmentMaxAgeMs', 'tickMs', 'restartDelayMs', 'sessionTimeoutMs', 'maxBatchRecords', 'keysSyncMs', 'metadataSyncMs'] as const) positiveInt(r[field], field);
  for (const field of ['pruneIntervalMs', 'orphanGraceMs', 'checkpointIntervalMs', 'keepDays', 'keepMonthly', 'trimLogAfterMs'] as const) nonNegativeInt(r[field], field);
  if (r.keepDays > 0 && r.checkpointIntervalMs === 0) throw new ConfigError('keepDays', 'needs checkpoints: set checkpointIntervalMs (BACKUP_CHECKPOINT_INTERVAL_MS), e.g. 86400000 for daily');
  if (r.keepDays > 0 && r.pruneIntervalMs === 0) throw new ConfigError('keepDays', 'runs on the retention schedule: pruneIntervalMs (BACKUP_PRUNE_INTERVAL_MS) must not be 0');
  if (r.trimLogAfterMs > 0 && r.pruneIntervalMs === 0) throw new ConfigError('trimLogAfterMs', 'runs on the retention schedule: pruneIntervalMs (BACKUP_PRUNE_INTERVAL_MS) must not be 0');
  if (r.keepMonthly > 0 && r.keepDays === 0) throw new ConfigError('keepMonthly', 'applies beyond keepDays (BACKUP_KEEP_DAYS); with keepDays 0 everything is kept');
  return {
    ...r,
    changesets: o.changesets ?? o.blobs,
    group: o.group ?? backupGroup(r.topicPrefix),
    trimLogGroups: o.trimLogGroups ?? [projectorGroup(r.topicPrefix), analyticsGroup(r.topicPrefix)],
    now: o.now ?? Date.now,
  };
}

/** What `republish` (src/backup/restore.ts) applies for each RepublishOptions field not given. */
export const DEFAULT_REPUBLISH_OPTIONS = Object.freeze({
  topicPrefix: DEFAULT_TOPIC_PREFIX,
  chunkRecords: 500,
});
