import type { AccessRecorder } from '../telemetry/access.js';
import type { BlobStore } from '../blob/port.js';
import type { Cache, CacheStats } from '../cache/port.js';
import type { Keyring } from '../codec/keyring.js';
import type { AgentStateClient, StateUpdateResult } from '../client/client.js';
import { checksum, diff, type AgentState, type JsonValue, type StateEvent } from '../domain/index.js';
import { ChecksumMismatchError } from '../domain/errors.js';
import { AbortedError, ConfigError, FencedError, InvalidInputError, NotFoundError } from '../errors.js';
import { decodeState, encodeState } from '../codec/state-body.js';
import { sleep } from '../util/retry.js';
import { Snapshotter, type SnapshotPolicy } from '../snapshots/snapshotter.js';
import { decodeCached, encodeCached, stateCacheKey } from '../cache/state-entry.js';
import { seedTrigger, type EventQuery, type QueryPage, type SnapshotRecord, type StateFilter, type StateStore, type StoredState } from '../store/port.js';
import { stateOfRow } from '../store/state-fields.js';
import { ReadFloor } from './read-floor.js';
import { bodyBytes, projectAt, readMirrorRow, versionAtTime } from './time-travel.js';
import { JsonEventCodec, type EventCodec } from '../codec/event-codec.js';
import { agentStateFromBackup } from '../backup/agent-at.js';
import { withChangesets, type ChangesetClaimCheck } from '../codec/changeset-blob.js';
import type { CompactionStrategy, CreateSnapshotOptions, EventReplayResult, RetentionPolicy, StateView, VersionInfo } from './types.js';

export interface StateManagerOptions {
  store: StateStore;
  blobs: BlobStore;
  /** Read-through cache (the projector writes through it). */
  cache?: Cache;
  /** The writer rollbacks and restores append through (it must own the agent, or `acquireForRollback`). */
  writer?: AgentStateClient;
  /** Take ownership (epoch + 1, fencing the running writer) before a rollback when the writer does not own the agent. @default false */
  acquireForRollback?: boolean;
  /** Must match the projector's, so snapshots are read the same way. */
  snapshots?: Partial<SnapshotPolicy>;
  /** Decrypts (and encrypts the checkpoints it takes) like the projector's keyring; required to read encrypted snapshots. */
  keyring?: Keyring;
  /** How long `getCurrentState({ minVersion })` waits. @default 5000 */
  minVersionTimeoutMs?: number;
  /** @default 25 */
  pollMs?: number;
  /** Larger states are not put in the cache on read. @default 1048576 */
  cacheMaxBytes?: number;
  /** Records each current-state read (duration, cache hit or miss) per agent, for a runtime host's heartbeats (docs/analytics.md, Access figures). */
  access?: AccessRecorder;
  /** Agents whose highest returned version is remembered (monotonic reads); least recently read forgotten first. @default 100000 */
  maxTrackedAgents?: number;
  /**
   * The log's event codec, to read the backup (`backup/` in `blobs`): with
   * it, `projectStateAtTime` falls back to the backup's segments for history
   * the event mirror no longer holds (compacted, or a store restored from a
   * checkpoint; docs/backup.md "Capping the events topic").
   */
  backupCodec?: EventCodec;
}

/**
 * The seed's StateManager: queries, time travel, rollback, snapshots and the
 * cache, over the projector's outputs. It never writes current state itself:
 * changes (rollback, restore) are new events through the writer SDK, so history
 * stays immutable and the projector stays the only writer (DESIGN.md Invariant 5).
 *
 * Read consistency: reads are monotonic per manager and never older than the
 * store (see {@link StateManager.getCurrentState} and docs/projector.md).
 */
export class StateManager {
  readonly snapshotter: Snapshotter;
  /** Reads mirror rows (canonical JSON events), resolving claim-checked changesets from the blob store. */
  private readonly mirror: ChangesetClaimCheck;
  private readonly o: Required<Pick<StateManagerOptions, 'minVersionTimeoutMs' | 'pollMs' | 'cacheMaxBytes' | 'acquireForRollback' | 'maxTrackedAgents'>> & StateManagerOptions;
  private readonly floor: ReadFloor;

  constructor(options: StateManagerOptions) {
    if (!options.store) throw new ConfigError('store', 'is required');
    if (!options.blobs) throw new ConfigError('blobs', 'is required');
    this.o = { minVersionTimeoutMs: 5000, pollMs: 25, cacheMaxBytes: 1024 * 1024, acquireForRollback: false, maxTrackedAgents: 100_000, ...options };
    for (const f of ['minVersionTimeoutMs', 'pollMs', 'cacheMaxBytes', 'maxTrackedAgents'] as const) {
      if (!Number.isSafeInteger(this.o[f]) || this.o[f] <= 0) throw new ConfigError(f, 'must be a positive integer');
    }
    this.floor = new ReadFloor(this.o.maxTrackedAgents);
    this.mirror = withChangesets(new JsonEventCodec(), options.blobs);
    this.snapshotter = new Snapshotter(options.store, options.blobs, {
      ...(options.snapshots ? { policy: options.snapshots } : {}),
      ...(options.keyring ? { keyring: options.keyring } : {}),
      createdBy: 'agentstate-manager',
    });
  }

  /**
   * Current state: the cache, then the store. With `minVersion`, waits (up to
   * `timeoutMs`) until the projection has reached it: read-your-writes after a
   * `StateUpdateResult.newVersion`.
   *
   * Reads are monotonic (docs/projector.md, Read consistency): this manager
   * never returns an older version of an agent than it has already returned
   * (it remembers the highest per agent, for up to `maxTrackedAgents` agents),
   * nor one older than the store held when the read began (the projector
   * writes the cache, version-guarded, before the store). When the cache is
   * behind what this manager returned, the read goes to the store, and waits
   * like a `minVersion` read if the store is behind too. A corrupt cache entry
   * (bad header, truncated body, wrong checksum) is read from the store instead.
   * @throws AgentStateError AS_ABORTED when `minVersion`, or a version this
   *   manager already returned, is not reached in time
   */
  async getCurrentState(instanceId: string, options: { minVersion?: number; timeoutMs?: number } = {}): Promise<StateView | undefined> {
    const started = performance.now();
    const asked = options.minVersion ?? 0;
    const deadline = Date.now() + (options.timeoutMs ?? this.o.minVersionTimeoutMs);
    for (;;) {
      const returned = this.floor.get(instanceId);
      const min = Math.max(asked, returned);
      const view = await this.readOnce(instanceId, min);
      if (view && view.version >= min) {
        this.floor.raise(instanceId, view.version);
        this.o.access?.read(instanceId, performance.now() - started, view.source === 'cache' ? 'hit' : this.o.cache ? 'miss' : 'none');
        return view;
      }
      if (!view && asked === 0) {
        // No current state (never projected, or deleted): not an older version.
        this.floor.forget(instanceId);
        return undefined;
      }
      if (Date.now() >= deadline) {
        const why = asked >= returned ? '' : ` (this manager already returned version ${returned})`;
        throw new AbortedError(`agent ${instanceId} did not reach version ${min} in time (at ${view?.version ?? 0})${why}`, {
          retryable: true,
        });
      }
      await sleep(this.o.pollMs);
    }
  }

  /**
   * Cache first; the store when the cache misses, holds less than `min`, or
   * holds a corrupt entry. A store row newer than the entry refills the cache,
   * version-guarded, so a fill never replaces a newer entry the projector wrote
   * meanwhile.
   */
  private async readOnce(instanceId: string, min: number): Promise<StateView | undefined> {
    const cache = this.o.cache;
    const key = stateCacheKey(instanceId);
    /** Version of the entry present; undefined when absent or corrupt (any store row may replace it then). */
    let cachedVersion: number | undefined;
    const value = cache ? await cache.get(key).catch(() => undefined) : undefined;
    if (value) {
      try {
        const { header, body } = decodeCached(value);
        if (!header.inStore && header.version >= min) {
          const state = await decodeState(header.encoding, body);
          if (checksum(state) === header.checksum) {
            const { instanceId: id, version, epoch, checksum: sum, updatedAt } = header;
            return { instanceId: id, version, epoch, checksum: sum, updatedAt, state: state as unknown as AgentState, source: 'cache' };
          }
        } else {
          cachedVersion = header.version;
        }
      } catch {
        // Undecodable (bad header JSON, truncated or corrupt body): the store has the state (Invariant 6).
      }
    }
    const row = await this.o.store.getState(instanceId);
    if (!row) return undefined;
    const view = await this.viewOf(row);
    // Guarded fill: never replaces a newer entry the projector wrote meanwhile.
    // The cache holds whole states; the store's inline body is only the residual, so the state is re-encoded.
    if (cache && (cachedVersion === undefined || cachedVersion < row.version) && row.blobKey === null) {
      const { instanceId: id, version, epoch, checksum: sum, updatedAt } = row;
      const whole = await encodeState(view.state as unknown as JsonValue);
      if (whole.bytes.length <= this.o.cacheMaxBytes) {
        await cache.setIfNewer(key, encodeCached({ instanceId: id, version, epoch, checksum: sum, updatedAt, encoding: whole.encoding }, whole.bytes), version).catch(() => undefined);
      }
    }
    return view;
  }

  private async viewOf(row: StoredState): Promise<StateView> {
    const body = await decodeState(row.encoding, await bodyBytes(this.o.blobs, row.body, row.blobKey, `state of ${row.instanceId}`));
    const state = stateOfRow(row, body);
    const sum = checksum(state);
    if (sum !== row.checksum) throw new ChecksumMismatchError(`stored state of ${row.instanceId}`, row.checksum, sum);
    return { instanceId: row.instanceId, version: row.version, epoch: row.epoch, checksum: row.checksum, updatedAt: row.updatedAt, state: state as unknown as AgentState, source: 'store' };
  }

  /**
   * Agents matching a filter (status, capability, agent type, changed since),
   * a page at a time in id order, from the store's queryable fields: no state
   * body is read. Pass `nextCursor` back as `cursor` for the next page.
   * @throws AgentStateError AS_INVALID_INPUT on a bad limit or cursor
   */
  async query(filter: StateFilter = {}): Promise<QueryPage> {
    return this.o.store.query(filter);
  }

  /** Versions of an agent, oldest first, from the event mirror. */
  async getVersionHistory(instanceId: string, range: { fromVersion?: number; toVersion?: number; limit?: number } = {}): Promise<VersionInfo[]> {
    const rows = await this.o.store.queryEvents({ instanceId, ...range });
    return rows.map((r) => ({ version: r.version, epoch: r.epoch, eventId: r.eventId, eventType: r.eventType, timestamp: r.timestamp, stateChecksum: r.stateChecksum }));
  }

  /**
   * Accepted events by version range, time range and type, claim-checked
   * changesets resolved. An event whose changeset blob is gone or altered is
   * left out (the same decision as every reader of the log: `readEventRecord`);
   * `replayEvents` reports it in its `errors`.
   */
  async getEventHistory(instanceId: string, query: Omit<EventQuery, 'instanceId'> = {}): Promise<StateEvent[]> {
    const events: StateEvent[] = [];
    for (const row of await this.o.store.queryEvents({ instanceId, ...query })) {
      const reading = await readMirrorRow(row, this.mirror);
      if (reading.kind === 'event') events.push(reading.event);
    }
    return events;
  }

  /** The state at `version`: nearest snapshot at or before it, plus events, every checksum verified. */
  async projectState(instanceId: string, version: number): Promise<{ version: number; checksum: string; state: AgentState }> {
    const { projection } = await projectAt(this.o.store, this.snapshotter, this.mirror, instanceId, version);
    return { version: projection.version, checksum: projection.checksum, state: projection.state as unknown as AgentState };
  }

  /** The state in force at time `t` (ms): the version of the last event at or before it. */
  async projectStateAtTime(instanceId: string, t: number): Promise<{ version: number; checksum: string; state: AgentState }> {
    try {
      return await this.projectState(instanceId, await versionAtTime(this.o.store, instanceId, t));
    } catch (err) {
      if (!(err instanceof NotFoundError) || !this.o.backupCodec) throw err;
      // History the mirror no longer holds: from the backup's segments, every step's checksum recomputed.
      const p = await agentStateFromBackup(this.o.blobs, this.o.backupCodec, instanceId, t, this.o.keyring).catch((e: unknown) => {
        throw e instanceof NotFoundError ? err : e;
      });
      return { version: p.version, checksum: p.checksum, state: p.state as unknown as AgentState };
    }
  }

  /**
   * Rolls an agent back by appending a `state_rolled_back` event whose
   * changeset moves the current state to the state at `version`; history is
   * untouched (DESIGN.md Invariant 5). The new version's content equals the old one's.
   * @throws FencedError when the writer does not own the agent (and `acquireForRollback` is off)
   */
  async rollbackToVersion(instanceId: string, version: number, options: { reason?: string } = {}): Promise<StateUpdateResult> {
    const target = await this.projectState(instanceId, version);
    return this.moveTo(instanceId, target.state as unknown as JsonValue, { rolledBackTo: String(version), reason: options.reason ?? '' });
  }

  private async moveTo(instanceId: string, target: JsonValue, metadata: Record<string, string>): Promise<StateUpdateResult> {
    const writer = this.o.writer;
    if (!writer) throw new ConfigError('writer', 'a writer client is required to append rollback events');
    if (!writer.owns(instanceId)) {
      if (!this.o.acquireForRollback) throw new FencedError(`the manager's writer does not own agent ${instanceId}`);
      await writer.acquire(instanceId);
    }
    const head = writer.getState(instanceId);
    if (!head) throw new NotFoundError(`agent ${instanceId}`);
    const changes = diff(head.state as unknown as JsonValue, target);
    return writer.updateState(instanceId, changes, { eventType: 'state_rolled_back', metadata, expectedVersion: head.version });
  }

  /** Snapshots the current (projected) state on demand. */
  async createSnapshot(instanceId: string, options: CreateSnapshotOptions = {}): Promise<SnapshotRecord> {
    const row = await this.o.store.getState(instanceId);
    if (!row) throw new NotFoundError(`agent ${instanceId}`);
    const view = await this.viewOf(row);
    const record = await this.snapshotter.take({
      instanceId,
      version: row.version,
      epoch: row.epoch,
      state: view.state as unknown as JsonValue,
      checksum: row.checksum,
      stateTimestamp: row.updatedAt,
      type: options.type ?? 'checkpoint',
      trigger: options.trigger ?? 'manual',
      ...(options.expiresAt !== undefined ? { expiresAt: options.expiresAt } : {}),
      ...(options.permanent !== undefined ? { permanent: options.permanent } : {}),
      ...(options.critical !== undefined ? { critical: options.critical } : {}),
    });
    // The seed's snapshot_created, in the agent's history, only through its
    // owner: the manager never writes as a second writer (Invariant 3; docs/domain.md).
    const writer = this.o.writer;
    if (options.recordEvent !== false && writer?.owns(instanceId)) {
      await writer.snapshotCreated(instanceId, { snapshotId: record.snapshotId, version: record.version, type: record.type, trigger: seedTrigger(record.trigger) });
    }
    return record;
  }

  /**
   * Loads a snapshot, verifying its body and state checksums before anything
   * uses it (Invariant 6). With `apply`, also makes it the current state by a
   * `state_rolled_back` event.
   */
  async restoreSnapshot(snapshotId: string, options: { apply?: boolean } = {}): Promise<{ snapshot: SnapshotRecord; state: AgentState; applied?: StateUpdateResult }> {
    const snapshot = await this.o.store.getSnapshot(snapshotId);
    if (!snapshot) throw new NotFoundError(`snapshot ${snapshotId}`);
    const state = await this.snapshotter.load(snapshot);
    if (!options.apply) return { snapshot, state: state as unknown as AgentState };
    const applied = await this.moveTo(snapshot.instanceId, state, { restoredSnapshot: snapshotId, rolledBackTo: String(snapshot.version) });
    return { snapshot, state: state as unknown as AgentState, applied };
  }

  /** Re-folds events `from..to` onto the state at `from - 1` and checks the result against the log's checksum. */
  async replayEvents(instanceId: string, from: number, to: number): Promise<EventReplayResult> {
    const started = performance.now();
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 1 || to < from) {
      throw new InvalidInputError('replay range', `${from}..${to}`);
    }
    // One read of the mirror: the row of `to`, with the checksum the log recorded, is among the folded ones.
    const { projection, errors, recorded } = await projectAt(this.o.store, this.snapshotter, this.mirror, instanceId, to);
    return {
      instanceId,
      fromVersion: from,
      toVersion: to,
      eventsReplayed: to - from + 1,
      finalVersion: projection.version,
      finalState: projection.state as unknown as AgentState,
      checksum: projection.checksum,
      verified: recorded === projection.checksum,
      errors,
      duration: performance.now() - started,
    };
  }

  /** Deletes an agent's older snapshots beyond `keepLast` (never permanent or critical ones, nor a base a kept one needs). */
  async cleanupOldStates(instanceId: string, retention: RetentionPolicy = {}): Promise<{ snapshotsDeleted: number }> {
    const keepLast = retention.keepLast ?? 3;
    const cutoff = Date.now() - (retention.olderThanMs ?? 0);
    const all = await this.o.store.listSnapshots(instanceId);
    const keep = new Set<string>();
    const byId = new Map(all.map((s) => [s.snapshotId, s]));
    all.forEach((s, i) => {
      if (i < keepLast || s.permanent || s.critical || s.createdAt > cutoff) {
        for (let x: SnapshotRecord | undefined = s; x && !keep.has(x.snapshotId); x = x.baseSnapshotId ? byId.get(x.baseSnapshotId) : undefined) {
          keep.add(x.snapshotId);
        }
      }
    });
    const gone = all.filter((s) => !keep.has(s.snapshotId));
    for (const s of gone) await this.o.blobs.delete(s.blobKey);
    return { snapshotsDeleted: await this.o.store.deleteSnapshots(gone.map((s) => s.snapshotId)) };
  }

  /** Trims the queryable event mirror; the Kafka log keeps everything (Invariant 5). */
  async compactEvents(instanceId: string, strategy: CompactionStrategy = { strategy: 'before_snapshot' }): Promise<{ eventsDeleted: number; belowVersion: number }> {
    let below: number;
    if (strategy.strategy === 'before_version') {
      below = strategy.version;
    } else {
      const snap = await this.o.store.findSnapshot(instanceId, { types: ['full', 'checkpoint'] });
      if (!snap) return { eventsDeleted: 0, belowVersion: 0 };
      below = snap.version;
    }
    return { eventsDeleted: await this.o.store.deleteEvents(instanceId, below), belowVersion: below };
  }

  /** Loads agents' current state into the cache (all agents when `ids` is omitted). Returns how many were cached. */
  async warmCache(ids?: string[]): Promise<number> {
    if (!this.o.cache) return 0;
    let n = 0;
    const list = ids ?? (await this.o.store.listAgents());
    // Big chunks: a store without a usable index (FerretDB on SQLite) scans once per query.
    for (let i = 0; i < list.length; i += 1000) {
      const rows = await this.o.store.getStates(list.slice(i, i + 1000));
      for (const row of rows.values()) {
        // Claim-checked states are too big for the cache; the others are rebuilt whole (the row's body is only the residual).
        if (row.blobKey !== null) continue;
        const view = await this.viewOf(row);
        const whole = await encodeState(view.state as unknown as JsonValue);
        if (whole.bytes.length > this.o.cacheMaxBytes) continue;
        const { instanceId, version, epoch, checksum: sum, updatedAt } = row;
        await this.o.cache.setIfNewer(stateCacheKey(instanceId), encodeCached({ instanceId, version, epoch, checksum: sum, updatedAt, encoding: whole.encoding }, whole.bytes), version);
        n++;
      }
    }
    return n;
  }

  /** Drops an agent's cached state on every node sharing the cache. */
  async invalidateCache(instanceId: string): Promise<void> {
    await this.o.cache?.invalidate(stateCacheKey(instanceId));
  }

  /** Hit/miss counters of this process's cache client. */
  getCacheStatistics(): CacheStats | undefined {
    return this.o.cache?.stats();
  }
}
