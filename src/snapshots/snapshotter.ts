import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { BlobStore } from '../blob/port.js';
import { compressState, decompressState, type CompressionAlgorithm } from '../codec/compression.js';
import { DecodeError } from '../codec/errors.js';
import type { Keyring } from '../codec/keyring.js';
import { AlreadyExistsError, ConfigError, NotFoundError } from '../errors.js';
import { applyChanges, checksum, ChecksumMismatchError, diff, encodeKeySegment, type Change, type JsonValue } from '../domain/index.js';
import type { SnapshotRecord, SnapshotType, StateStore } from '../store/port.js';
import { NO_METRICS, type Metrics } from '../telemetry/metrics.js';

/** When the projector takes snapshots (DESIGN.md Snapshots). */
export interface SnapshotPolicy {
  /** A snapshot at every version that is a multiple of this; 0 disables. Deterministic, so a rebuild takes the same ones. @default 100 */
  everyEvents: number;
  /** A full snapshot once this many changeset bytes have accumulated since the last one (per process); 0 disables. @default 1048576 */
  everyBytes: number;
  /** Every Nth policy snapshot is full, the others incremental on the previous one (bounds restore chains). @default 5 */
  fullEvery: number;
  /** Policy snapshots expire this long after creation; null keeps them. @default 604800000 (7 days) */
  retentionMs: number | null;
  /** Compression of snapshot bodies. @default 'lz4' */
  algorithm: CompressionAlgorithm;
}

export const DEFAULT_SNAPSHOT_POLICY: SnapshotPolicy = {
  everyEvents: 100,
  everyBytes: 1024 * 1024,
  fullEvery: 5,
  retentionMs: 7 * 24 * 3600 * 1000,
  algorithm: 'lz4',
};

/** Validates a partial policy over the defaults, naming the bad field (STYLE.md habit 5). */
export function snapshotPolicy(partial: Partial<SnapshotPolicy> = {}): SnapshotPolicy {
  const p = { ...DEFAULT_SNAPSHOT_POLICY, ...partial };
  for (const f of ['everyEvents', 'everyBytes'] as const) {
    if (!Number.isSafeInteger(p[f]) || p[f] < 0) throw new ConfigError(`snapshots.${f}`, 'must be a non-negative integer');
  }
  if (!Number.isSafeInteger(p.fullEvery) || p.fullEvery < 1) throw new ConfigError('snapshots.fullEvery', 'must be a positive integer');
  if (p.retentionMs !== null && (!Number.isFinite(p.retentionMs) || p.retentionMs <= 0)) {
    throw new ConfigError('snapshots.retentionMs', 'must be positive or null');
  }
  return p;
}

/** What a snapshot is taken of. */
export interface SnapshotInput {
  instanceId: string;
  version: number;
  epoch: number;
  state: JsonValue;
  checksum: string;
  /** Timestamp (ms) of the event at `version`. */
  stateTimestamp: number;
  type: SnapshotType;
  trigger: string;
  /** Overrides the policy's retention. */
  expiresAt?: number | null;
  permanent?: boolean;
  critical?: boolean;
}

/** Body of an incremental snapshot: the changes from its base. */
interface IncrementalBody {
  baseSnapshotId: string;
  baseVersion: number;
  changes: Change[];
}

/** First bytes of an AES-GCM envelope frame (src/codec/cipher-frame.ts). */
const ENCRYPTED_MAGIC = Buffer.from('ASEF', 'latin1');

/**
 * Writes and reads snapshots: framed, compressed, checksummed bodies in the
 * blob store under content-addressed keys (a retry never replaces bytes already
 * referenced), metadata in the StateStore (DESIGN.md Snapshots; Invariants 4, 6).
 * With a keyring, each body is encrypted under its agent's data key
 * (DESIGN.md Security), bound to its snapshot id so bodies cannot be swapped;
 * `bodyChecksum` is then the SHA-256 of the compressed frame inside, checked
 * after decryption (AES-GCM authenticates the ciphertext itself).
 */
export class Snapshotter {
  readonly policy: SnapshotPolicy;
  private readonly metrics: Metrics;
  /** Last snapshot taken per agent with its state, so an incremental needs no blob read of its base. */
  private readonly recent = new Map<string, { snapshotId: string; version: number; state: JsonValue }>();
  private readonly maxRecent = 10_000;
  private readonly keyring: Keyring | undefined;
  private readonly createdBy: string;

  constructor(
    private readonly store: StateStore,
    private readonly blobs: BlobStore,
    /** `createdBy`: the service named in each record (the seed's `created_by`). @default 'agentstate-projector' */
    options: { policy?: Partial<SnapshotPolicy>; metrics?: Metrics; logger?: Logger; keyring?: Keyring; createdBy?: string } = {},
  ) {
    this.policy = snapshotPolicy(options.policy);
    this.metrics = options.metrics ?? NO_METRICS;
    this.keyring = options.keyring;
    this.createdBy = options.createdBy ?? 'agentstate-projector';
  }

  /** The policy snapshot due at `version`, if any (deterministic in the version). */
  dueAt(version: number): SnapshotType | undefined {
    const n = this.policy.everyEvents;
    if (n === 0 || version % n !== 0) return undefined;
    const k = version / n;
    return (k - 1) % this.policy.fullEvery === 0 ? 'full' : 'incremental';
  }

  /** Takes a snapshot. `incremental` falls back to `full` when there is no earlier snapshot. */
  async take(input: SnapshotInput): Promise<SnapshotRecord> {
    const started = performance.now();
    let type = input.type;
    let baseSnapshotId: string | null = null;
    let body: JsonValue = input.state;
    if (type === 'incremental') {
      // This process takes an agent's snapshots in version order, so the one it
      // took last is the newest below this version; else ask the store.
      const cached = this.recent.get(input.instanceId);
      const base = cached !== undefined && cached.version < input.version ? cached : await this.store.findSnapshot(input.instanceId, { atOrBeforeVersion: input.version - 1 });
      if (base) {
        const baseState = 'state' in base ? base.state : await this.load(base);
        baseSnapshotId = base.snapshotId;
        const inc: IncrementalBody = { baseSnapshotId, baseVersion: base.version, changes: diff(baseState, input.state) };
        body = inc as unknown as JsonValue;
      } else {
        type = 'full';
      }
    }
    const frame = await compressState(body, this.policy.algorithm);
    const bodyChecksum = createHash('sha256').update(frame).digest('hex');
    const snapshotId = `${input.instanceId}:${input.version}:${type}`;
    // The id is encoded: an agent named `..` must not write outside the deployment's prefix (issue 12 §4).
    const blobKey = `snapshots/${encodeKeySegment(input.instanceId)}/${input.version}-${type}-${bodyChecksum}`;
    const stored = this.keyring ? await this.keyring.encrypt(input.instanceId, frame, Buffer.from(snapshotId)) : frame;
    try {
      await this.blobs.put(blobKey, stored, { ifNoneMatch: true, contentType: 'application/octet-stream' });
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
    }
    const now = Date.now();
    const record: SnapshotRecord = {
      snapshotId,
      instanceId: input.instanceId,
      version: input.version,
      epoch: input.epoch,
      type,
      baseSnapshotId,
      stateChecksum: input.checksum,
      bodyChecksum,
      blobKey,
      encoding: { algorithm: this.policy.algorithm, originalSize: Number(frame.readBigUInt64BE(8)), storedSize: stored.length },
      trigger: input.trigger,
      creationMs: Math.round(performance.now() - started),
      createdBy: this.createdBy,
      stateTimestamp: input.stateTimestamp,
      createdAt: now,
      expiresAt: input.expiresAt !== undefined ? input.expiresAt : this.policy.retentionMs === null ? null : now + this.policy.retentionMs,
      permanent: input.permanent ?? false,
      critical: input.critical ?? false,
    };
    await this.store.putSnapshot(record);
    this.remember(input.instanceId, snapshotId, input.version, input.state);
    this.metrics.observe('agentstate_snapshot_bytes', stored.length, { type });
    this.metrics.observe('agentstate_snapshot_seconds', (performance.now() - started) / 1000, { type });
    return record;
  }

  private remember(instanceId: string, snapshotId: string, version: number, state: JsonValue): void {
    this.recent.delete(instanceId);
    this.recent.set(instanceId, { snapshotId, version, state });
    if (this.recent.size > this.maxRecent) {
      const oldest = this.recent.keys().next();
      if (!oldest.done) this.recent.delete(oldest.value);
    }
  }

  /**
   * The state a snapshot holds, following incremental chains to their full
   * base. Verifies the blob checksum, the frame checksum and finally the state
   * checksum before returning (DESIGN.md Invariant 6).
   * @throws ChecksumMismatchError, NotFoundError
   */
  async load(record: SnapshotRecord, depth = 0): Promise<JsonValue> {
    if (depth > 1000) throw new NotFoundError(`full base of snapshot ${record.snapshotId} (chain too long)`);
    const stored = await this.blobs.get(record.blobKey);
    if (!stored) throw new NotFoundError(`snapshot body ${record.blobKey}`);
    let frame = stored;
    if (stored.subarray(0, 4).equals(ENCRYPTED_MAGIC)) {
      if (!this.keyring) throw new DecodeError(`snapshot ${record.snapshotId}`, 'its body is encrypted and no keyring (master keys) was configured');
      frame = await this.keyring.decrypt(stored, Buffer.from(record.snapshotId));
    }
    const actual = createHash('sha256').update(frame).digest('hex');
    if (actual !== record.bodyChecksum) throw new ChecksumMismatchError(`snapshot ${record.snapshotId} body`, record.bodyChecksum, actual);
    const body = await decompressState(frame);
    let state: JsonValue;
    if (record.type === 'incremental') {
      const inc = body as unknown as IncrementalBody;
      const base = await this.store.getSnapshot(inc.baseSnapshotId);
      if (!base) throw new NotFoundError(`base snapshot ${inc.baseSnapshotId} of ${record.snapshotId}`);
      state = applyChanges(await this.load(base, depth + 1), inc.changes);
    } else {
      state = body;
    }
    const sum = checksum(state);
    if (sum !== record.stateChecksum) throw new ChecksumMismatchError(`snapshot ${record.snapshotId} state`, record.stateChecksum, sum);
    return state;
  }

  /**
   * Deletes expired snapshots (not permanent, not critical) whose bodies no
   * live incremental snapshot still builds on. Returns how many went.
   */
  async sweep(now = Date.now()): Promise<number> {
    const expired = await this.store.expiredSnapshots(now);
    if (expired.length === 0) return 0;
    const doomed = new Set(expired.map((s) => s.snapshotId));
    const keep = new Set<string>();
    for (const id of new Set(expired.map((s) => s.instanceId))) {
      for (const s of await this.store.listSnapshots(id)) {
        // A surviving snapshot keeps its whole base chain alive.
        let base = s.baseSnapshotId;
        if (doomed.has(s.snapshotId)) continue;
        while (base !== null && !keep.has(base)) {
          keep.add(base);
          base = (await this.store.getSnapshot(base))?.baseSnapshotId ?? null;
        }
      }
    }
    const gone = expired.filter((s) => !keep.has(s.snapshotId));
    for (const s of gone) await this.blobs.delete(s.blobKey);
    return this.store.deleteSnapshots(gone.map((s) => s.snapshotId));
  }
}
