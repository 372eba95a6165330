import { DEFAULT_TOPIC_PREFIX } from '../log/topics.js';
import type { Logger } from 'pino';
import type { BlobStore } from '../blob/port.js';
import type { Cache } from '../cache/port.js';
import type { EventCodec } from '../codec/event-codec.js';
import type { Keyring } from '../codec/keyring.js';
import type { EventLog } from '../log/port.js';
import { Projector } from '../projector/index.js';
import type { DataKeyStore } from '../store/data-keys.js';
import { readShredList, restoreKeys, type KeysRestoreReport } from './keys.js';
import { restoreSnapshotCatalog, type CatalogRestoreReport } from './catalog.js';
import type { RegistryRestoreReport } from './schemas.js';
import type { StateStore, StoredState } from '../store/port.js';
import { DEFAULT_STATE_FIELDS_OPTIONS, splitState } from '../store/state-fields.js';
import { DEFAULT_BODY_OPTIONS, encodeState } from '../codec/state-body.js';
import { listBackupPartitions, listManifestVersions, openManifest } from './manifest.js';
import { chainStart } from './checkpoint.js';
import { republish, verifyRestored, type RepublishResult, type RestoreMismatch, type RestoreProgress } from './restore.js';

/** What a restore target is made of: a log, a store, a blob store (and a cache) on either profile. */
export interface RestoreTarget {
  log: EventLog;
  /** Decodes the target's events (RegistryEventCodec for the target topic on Kafka, JSON embedded). */
  codec: EventCodec;
  store: StateStore;
  /** Where the target's projector puts snapshot bodies and claim-checked states. */
  blobs: BlobStore;
  /** The target's cache, written through by the projector so nothing stale is served after a restore. */
  cache?: Cache;
  /** @default 'agentstate.' */
  topicPrefix?: string;
  /**
   * The target's data-key store: the backup's wrapped keys and shred list are
   * restored into it first (a shredded agent gets tombstones, never its key).
   */
  dataKeys?: DataKeyStore;
  /** A keyring over `dataKeys` (the master keys of the environment): decrypts the backup, and the target's projector encrypts snapshots with it. */
  keyring?: Keyring;
}

export interface RestoreOptions {
  /** The backup. */
  blobs: BlobStore;
  target: RestoreTarget;
  /** Point in time (ms); @default latest */
  to?: number;
  /** Only these agents; @default all */
  agents?: ReadonlySet<string>;
  /** Rewrites values before they are appended (schema ids: {@link SchemaRemapper.map}). */
  mapValue?: (value: Buffer) => Promise<Buffer>;
  /** Decrypts an encrypted backup (the source's master keys and data keys). */
  keyring?: Keyring;
  /** Cross damage, stopping each affected agent at its last contiguous version (see `RepublishOptions.allowGap`). */
  allowGap?: boolean;
  /** See `RepublishOptions.replicationFactor`. @default the backup's recorded factor (lowered to the target's broker count) */
  replicationFactor?: number;
  onProgress?: (p: RestoreProgress) => void;
  logger?: Logger;
  signal?: AbortSignal;
}

export interface RestoreReport extends Omit<RepublishResult, 'projections' | 'seeds'> {
  agents: number;
  /** Agents whose state was written from a starting checkpoint (the backup's older segments were deleted by the retention). */
  seeded: number;
  /** Data keys brought back into the target's store (when it has one). */
  keys?: KeysRestoreReport;
  checked: number;
  mismatched: RestoreMismatch[];
  /** Agents in the restored store that the backup does not have (up to the restore point). */
  extra: string[];
  /** The snapshot catalog written back (records pointing at the bodies; `missing` names bodies gone or altered). */
  snapshots: CatalogRestoreReport;
  /** Registry subjects recreated (onto servers with a registry). */
  registry?: RegistryRestoreReport;
  ok: boolean;
  /**
   * Wall time of each phase. The projector runs during the republish, so
   * `project` is only what it still needed after the last record was
   * appended (plus the snapshot catalog).
   */
  seconds: { republish: number; project: number; verify: number };
}

/** Records and stored bytes the backup holds (segments that start at or before `to`): the denominator of a progress line. */
export async function backupTotals(blobs: BlobStore, to?: number): Promise<{ records: number; bytes: number; segments: number }> {
  const out = { records: 0, bytes: 0, segments: 0 };
  for (const p of await listBackupPartitions(blobs)) {
    // Segments the retention retired (up to the checkpoint a restore starts at) are not republished.
    const start = await chainStart(blobs, p);
    const after = start.kind === 'checkpoint' ? start.checkpoint.manifestVersion : 0;
    for (const v of await listManifestVersions(blobs, p)) {
      if (v.version <= after) continue;
      const bytes = await blobs.get(v.key);
      if (!bytes) continue;
      const m = await openManifest(bytes, v.key).catch(() => undefined);
      if (!m || (to !== undefined && m.segment.minTimestamp > to)) continue;
      out.records += m.segment.records;
      out.bytes += m.segment.storedBytes;
      out.segments++;
    }
  }
  return out;
}

/**
 * Restores the backup into `target`, on either profile: republishes the
 * archived records (keys, headers, timestamps, per-agent order), runs the
 * target's projector until it has caught up, then checks every agent's
 * version and checksum against the fold of the backup (DESIGN.md
 * Invariant 6). Resumable: a re-run after a crash (kill -9 anywhere)
 * appends only what the target log lacks, and the projector continues from
 * its committed offsets with idempotent sinks (Invariant 4).
 * @throws BackupDamagedError at the first damaged segment or manifest
 * @throws ConflictError when the target holds something other than a prefix of the backup
 */
export async function restoreInto(options: RestoreOptions): Promise<RestoreReport> {
  const { target } = options;
  const topicPrefix = target.topicPrefix ?? DEFAULT_TOPIC_PREFIX;
  let t = performance.now();
  const keys = target.dataKeys ? await restoreKeys(options.blobs, target.dataKeys) : undefined;
  // The restored keys decrypt the backup when it holds them; else the caller's (the source's surviving key store).
  const keyring = keys && target.keyring && keys.restored + keys.shreddedAgents > 0 ? target.keyring : (options.keyring ?? target.keyring);
  const projector = new Projector({
    log: target.log,
    codec: target.codec,
    store: target.store,
    blobs: target.blobs,
    ...(target.cache ? { cache: target.cache } : {}),
    ...(target.keyring ? { keyring: target.keyring } : {}),
    topicPrefix,
    sweepIntervalMs: 0,
    // A re-run after a kill -9 joins the group the dead run left: a short session lets it take over
    // in seconds instead of the service default of 30 s (the retry window stays below it).
    sessionTimeoutMs: 10_000,
    retryWindowMs: 5_000,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  // The projector folds the records while they are appended (it starts once the topics exist) and stops
  // once caught up with the end offsets the republish leaves; the checkpoints' states go into the store
  // before any record after them is appended.
  let projecting: Promise<void> | undefined;
  const published = republish({
    blobs: options.blobs,
    target: target.log,
    targetBlobs: target.blobs,
    codec: target.codec,
    topicPrefix,
    ...(options.to !== undefined ? { to: options.to } : {}),
    ...(options.agents ? { agents: options.agents } : {}),
    ...(options.mapValue ? { mapValue: options.mapValue } : {}),
    ...(options.allowGap ? { allowGap: true } : {}),
    ...(options.replicationFactor !== undefined ? { replicationFactor: options.replicationFactor } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(keyring ? { keyring } : {}),
    onTopicsReady: () => {
      projecting = projector.runUntilCaughtUp(options.signal, 250, published);
      // Handled here so an early failure is not an unhandled rejection; it is thrown where awaited below.
      projecting.catch(() => undefined);
    },
    onSeeds: (seeds) => seedStates(target.store, seeds),
  });
  let r: RepublishResult;
  try {
    r = await published;
  } catch (err) {
    // A failed republish stops the projector (its rejection ends the wait); the republish's error is the one thrown.
    await projecting?.catch(() => undefined);
    throw err;
  }
  const republishS = (performance.now() - t) / 1000;
  t = performance.now();
  await projecting;
  // The snapshot catalog after the projector: records it took itself for the same snapshot are kept.
  const snapshots = await restoreSnapshotCatalog({ backup: options.blobs, target: target.store, targetBlobs: target.blobs, projections: r.projections, shredded: new Set((await readShredList(options.blobs)).keys()) });
  const projectS = (performance.now() - t) / 1000;
  t = performance.now();
  const v = await verifyRestored(target.store, r.projections);
  const { projections, seeds, ...rest } = r;
  return {
    ...rest,
    agents: projections.size,
    seeded: seeds.length,
    ...(keys ? { keys } : {}),
    ...v,
    snapshots,
    ok: v.mismatched.length === 0 && v.extra.length === 0,
    seconds: { republish: republishS, project: projectS, verify: (performance.now() - t) / 1000 },
  };
}

/**
 * Writes each agent's state at a starting checkpoint as its `agent_states`
 * row, as the projector would have after folding the events the retention
 * deleted. The position is offset -1 of the partition: before every record
 * of the restored log, so the projector applies all of them and the store
 * never claims an offset the log lacks. Version-guarded like every state
 * write: a re-run (or a projector already past it) is never moved back.
 */
async function seedStates(store: StateStore, seeds: RepublishResult['seeds']): Promise<void> {
  const fieldOptions = { ...DEFAULT_STATE_FIELDS_OPTIONS, historyLimit: DEFAULT_BODY_OPTIONS.taskHistoryLimit };
  for (let i = 0; i < seeds.length; i += 500) {
    const states: StoredState[] = [];
    for (const { instanceId, partition, projection, meta } of seeds.slice(i, i + 500)) {
      const s = projection.state as { agentType?: unknown; status?: unknown };
      const { fields, residual } = splitState(projection.state, fieldOptions);
      const body = await encodeState(residual);
      states.push({
        instanceId,
        version: projection.version,
        epoch: projection.epoch,
        checksum: projection.checksum,
        agentType: typeof s.agentType === 'string' ? s.agentType : null,
        status: typeof s.status === 'string' ? s.status : null,
        fields,
        modifiedBy: meta.modifiedBy,
        encoding: body.encoding,
        body: body.bytes,
        blobKey: null,
        position: { partition, offset: '-1' },
        lastEventId: meta.lastEventId,
        lastEventType: meta.lastEventType,
        updatedAt: meta.updatedAt,
        createdAt: meta.createdAt,
      });
    }
    await store.writeBatch({ states, events: [] });
  }
}

export type { RestoreProgress };
