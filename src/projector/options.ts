import type { Logger } from 'pino';
import type { BlobStore } from '../blob/port.js';
import type { Cache } from '../cache/port.js';
import type { Keyring } from '../codec/keyring.js';
import type { EventCodec } from '../codec/event-codec.js';
import { ConfigError } from '../errors.js';
import type { EventLog } from '../log/port.js';
import { projectorGroup, DEFAULT_TOPIC_PREFIX } from '../log/topics.js';
import type { StateStore } from '../store/port.js';
import { DEFAULT_BODY_OPTIONS, type BodyOptions } from '../codec/state-body.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { SnapshotPolicy } from '../snapshots/snapshotter.js';

export interface ProjectorOptions {
  log: EventLog;
  /** Decodes event records (RegistryEventCodec on Kafka, JsonEventCodec embedded). */
  codec: EventCodec;
  store: StateStore;
  /** Snapshot bodies and claim-checked large states. */
  blobs: BlobStore;
  /** Write-through cache of current state; omitted = no cache. */
  cache?: Cache;
  /** @default 'agentstate.' */
  topicPrefix?: string;
  /** Consumer group. @default `<topicPrefix>projector` (`agentstate.projector`) */
  group?: string;
  /** Encrypts snapshot bodies under each agent's data key (DESIGN.md Security); omitted = not encrypted. */
  keyring?: Keyring;
  snapshots?: Partial<SnapshotPolicy>;
  body?: Partial<BodyOptions>;
  /** States whose canonical JSON is larger go to the blob store; the store row and the state topic carry a pointer. @default 524288 */
  claimCheckBytes?: number;
  /** Larger encoded states are not cached. @default 1048576 */
  cacheMaxBytes?: number;
  /** Cache TTL; null = no expiry. @default null */
  cacheTtlMs?: number | null;
  /** Publish the latest state per agent to the compacted `<prefix>state` topic. @default true */
  publishState?: boolean;
  /** @default 500 */
  maxBatchRecords?: number;
  /**
   * Partitions folded and written at once: one partition's sink I/O overlaps
   * another's fold (each partition stays in order). The store bounds its own
   * writes in flight. @default 6
   */
  partitionsConcurrently?: number;
  /**
   * How long a batch retries a failing sink before the consumer is restarted
   * (keep under the group session timeout, 30 s). @default 20000
   */
  retryWindowMs?: number;
  /** Group session timeout: how soon a crashed projector's partitions move to a live one. @default 30000 */
  sessionTimeoutMs?: number;
  /** Wait before restarting a failed consumer. @default 1000 */
  restartDelayMs?: number;
  /** Heads kept in memory (a cache of the store). @default 100000 */
  maxHeads?: number;
  /** Delete expired snapshots this often; 0 disables. @default 60000 */
  sweepIntervalMs?: number;
  /**
   * When the store does not project this log (another log, or an emptied one:
   * issue 12 §3), drop the projection and refold the log instead of refusing
   * with AS_LOG_MISMATCH (`--rebuild`). @default false
   */
  rebuild?: boolean;
  metrics?: Metrics;
  logger?: Logger;
}

export type ResolvedProjectorOptions = Required<Omit<ProjectorOptions, 'cache' | 'metrics' | 'logger' | 'snapshots' | 'body' | 'keyring'>> &
  Pick<ProjectorOptions, 'cache' | 'metrics' | 'logger' | 'snapshots' | 'keyring'> & { body: BodyOptions };

/** Fills defaults and validates once, naming the bad field (STYLE.md habit 5). */
export function resolveProjectorOptions(o: ProjectorOptions): ResolvedProjectorOptions {
  for (const f of ['log', 'codec', 'store', 'blobs'] as const) if (!o[f]) throw new ConfigError(f, 'is required');
  const r: ResolvedProjectorOptions = {
    ...o,
    topicPrefix: o.topicPrefix ?? DEFAULT_TOPIC_PREFIX,
    group: o.group ?? projectorGroup(o.topicPrefix),
    body: { ...DEFAULT_BODY_OPTIONS, ...o.body },
    claimCheckBytes: o.claimCheckBytes ?? 512 * 1024,
    cacheMaxBytes: o.cacheMaxBytes ?? 1024 * 1024,
    cacheTtlMs: o.cacheTtlMs ?? null,
    publishState: o.publishState ?? true,
    maxBatchRecords: o.maxBatchRecords ?? 500,
    partitionsConcurrently: o.partitionsConcurrently ?? 6,
    retryWindowMs: o.retryWindowMs ?? 20_000,
    restartDelayMs: o.restartDelayMs ?? 1000,
    sessionTimeoutMs: o.sessionTimeoutMs ?? 30_000,
    maxHeads: o.maxHeads ?? 100_000,
    sweepIntervalMs: o.sweepIntervalMs ?? 60_000,
    rebuild: o.rebuild ?? false,
  };
  const positive = ['claimCheckBytes', 'cacheMaxBytes', 'maxBatchRecords', 'partitionsConcurrently', 'retryWindowMs', 'maxHeads', 'sessionTimeoutMs'] as const;
  for (const f of positive) if (!Number.isSafeInteger(r[f]) || r[f] <= 0) throw new ConfigError(f, 'must be a positive integer');
  for (const f of ['restartDelayMs', 'sweepIntervalMs'] as const) {
    if (!Number.isSafeInteger(r[f]) || r[f] < 0) throw new ConfigError(f, 'must be a non-negative integer');
  }
  if (r.cacheTtlMs !== null && (!Number.isSafeInteger(r.cacheTtlMs) || r.cacheTtlMs <= 0)) throw new ConfigError('cacheTtlMs', 'must be positive or null');
  if (!r.group) throw new ConfigError('group', 'must not be empty');
  const history = r.body.taskHistoryLimit;
  if (!Number.isSafeInteger(history) || history < 0) throw new ConfigError('body.taskHistoryLimit', 'must be a non-negative integer');
  return r;
}
