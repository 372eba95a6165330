import { MongoBulkWriteError, type AnyBulkWriteOperation, type Collection, type Filter, type IndexDescription } from 'mongodb';
import { UnavailableError } from '../../errors.js';
import { call, unavailable } from './errors.js';
import type {
  EventQuery,
  SnapshotQuery,
  SnapshotRecord,
  StateStore,
  StoreCounts,
  StoredEvent,
  StoredState,
  WriteResult,
} from '../port.js';
import { MongoConnection, type MongoConnectionOptions } from './connection.js';
import {
  fromEventDoc,
  fromSnapshotDoc,
  fromStateDoc,
  toEventDoc,
  toSnapshotDoc,
  toStateDoc,
  type EventDoc,
  type SnapshotDoc,
  type StateDoc,
} from './documents.js';

export interface MongoStoreOptions extends MongoConnectionOptions {
  /** An open connection the caller owns (never closed here). Else one is opened from the other fields. */
  connection?: MongoConnection;
}

const DUPLICATE_KEY = 11000;

/**
 * StateStore on MongoDB or a MongoDB-wire server (FerretDB): `agent_states`,
 * `state_events`, `state_snapshots` with the seed's indexes. Only collection
 * bulkWrite, upserts and unique indexes are used (no transactions), so
 * idempotency comes from the writes themselves (DESIGN.md Invariant 4).
 */
export class MongoStore implements StateStore {
  private readonly states: Collection<StateDoc>;
  private readonly events: Collection<EventDoc>;
  private readonly snapshots: Collection<SnapshotDoc>;
  private closed = false;

  private constructor(
    readonly connection: MongoConnection,
    private readonly ownsConnection: boolean,
  ) {
    this.states = connection.db.collection<StateDoc>('agent_states');
    this.events = connection.db.collection<EventDoc>('state_events');
    this.snapshots = connection.db.collection<SnapshotDoc>('state_snapshots');
  }

  /** Opens (or adopts) a connection. Call `setup()` once to create the indexes. */
  static async connect(options: MongoStoreOptions): Promise<MongoStore> {
    if (options.connection) return new MongoStore(options.connection, false);
    return new MongoStore(await MongoConnection.connect(options), true);
  }

  async setup(): Promise<void> {
    const specs: Array<[Collection<StateDoc> | Collection<EventDoc> | Collection<SnapshotDoc>, IndexDescription]> = [
      [this.states, { key: { instanceId: 1, version: -1 }, name: 'instance_version' }],
      [this.states, { key: { status: 1 }, name: 'status' }],
      [this.states, { key: { agentType: 1 }, name: 'agentType' }],
      [this.states, { key: { updatedAt: -1 }, name: 'updatedAt' }],
      [this.events, { key: { instanceId: 1, version: 1 }, name: 'instance_version', unique: true }],
      [this.events, { key: { instanceId: 1, timestamp: 1 }, name: 'instance_timestamp' }],
      [this.events, { key: { instanceId: 1, eventType: 1 }, name: 'instance_type' }],
      [this.events, { key: { eventId: 1 }, name: 'eventId' }],
      [this.snapshots, { key: { instanceId: 1, version: -1 }, name: 'instance_version' }],
      [this.snapshots, { key: { instanceId: 1, stateTimestamp: -1 }, name: 'instance_time' }],
      [this.snapshots, { key: { expiresAt: 1 }, name: 'expiresAt' }],
    ];
    // One index per createIndexes call: FerretDB 1.24 drops the connection
    // when a multi-index createIndexes names indexes that already exist.
    for (const [coll, spec] of specs) await call(`create index ${spec.name ?? ''}`, () => coll.createIndexes([spec]));
  }

  /**
   * Events first (insert-if-absent), then states. A state row is inserted as
   * a new document `<instanceId>@<version>` and the agent's older rows are
   * deleted after: insert-then-delete, never an in-place update. Why: FerretDB
   * on SQLite runs each update as a collection scan (seconds per batch at a
   * few thousand agents) while inserts and `$in` deletes are batch-cheap. A
   * crash between the two leaves an extra older row, which readers ignore
   * (they take the highest version) and the next write removes, so the guard
   * of DESIGN.md Invariant 4 holds: a state never moves back.
   */
  async writeBatch(batch: { states: StoredState[]; events: StoredEvent[] }): Promise<WriteResult> {
    const result: WriteResult = { statesWritten: 0, statesSkipped: 0, eventsInserted: 0, eventsExisting: 0 };
    if (batch.events.length > 0) {
      const ops: AnyBulkWriteOperation<EventDoc>[] = batch.events.map((e) => ({ insertOne: { document: toEventDoc(e) } }));
      const { ok, duplicates } = await bulk(this.events, ops, 'write state_events');
      result.eventsInserted = ok;
      result.eventsExisting = duplicates;
    }
    if (batch.states.length === 0) return result;
    const ids = [...new Set(batch.states.map((s) => s.instanceId))];
    const existing = await call('read agent_states versions', () =>
      this.states.find({ instanceId: { $in: ids } }, { projection: { _id: 1, instanceId: 1, version: 1 } }).toArray(),
    );
    const head = new Map<string, number>();
    for (const row of existing) head.set(row.instanceId, Math.max(head.get(row.instanceId) ?? 0, row.version));
    const winners = new Map<string, StoredState>();
    for (const s of batch.states) {
      if (s.version <= (head.get(s.instanceId) ?? 0) || s.version <= (winners.get(s.instanceId)?.version ?? 0)) {
        result.statesSkipped++;
        continue;
      }
      if (winners.has(s.instanceId)) result.statesSkipped++;
      winners.set(s.instanceId, s);
    }
    if (winners.size === 0) return result;
    const ops: AnyBulkWriteOperation<StateDoc>[] = [...winners.values()].map((s) => ({ insertOne: { document: toStateDoc(s) } }));
    const { ok, duplicates } = await bulk(this.states, ops, 'write agent_states');
    result.statesWritten = ok + duplicates;
    const stale = existing.filter((row) => {
      const w = winners.get(row.instanceId);
      return w !== undefined && row.version < w.version;
    });
    if (stale.length > 0) await call('delete old agent_states', () => this.states.deleteMany({ _id: { $in: stale.map((r) => r._id) } }));
    return result;
  }

  async getStates(instanceIds: string[]): Promise<Map<string, StoredState>> {
    const out = new Map<string, StoredState>();
    if (instanceIds.length === 0) return out;
    // A single id as an equality: FerretDB pushes equality down, not `$in`.
    const filter: Filter<StateDoc> = instanceIds.length === 1 ? { instanceId: instanceIds[0]! } : { instanceId: { $in: instanceIds } };
    const docs = await call('read agent_states', () => this.states.find(filter).toArray());
    for (const d of docs) {
      const prev = out.get(d.instanceId);
      if (!prev || prev.version < d.version) out.set(d.instanceId, fromStateDoc(d));
    }
    return out;
  }

  async getState(instanceId: string): Promise<StoredState | undefined> {
    return (await this.getStates([instanceId])).get(instanceId);
  }

  async listAgents(options: { afterId?: string; limit?: number } = {}): Promise<string[]> {
    const filter: Filter<StateDoc> = options.afterId === undefined ? {} : { instanceId: { $gt: options.afterId } };
    const ids = (await call('list agent_states', () => this.states.distinct('instanceId', filter))) as string[];
    ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return options.limit ? ids.slice(0, options.limit) : ids;
  }

  async deleteState(instanceId: string): Promise<boolean> {
    const r = await call('delete agent_states', () => this.states.deleteMany({ instanceId }));
    return r.deletedCount > 0;
  }

  async queryEvents(q: EventQuery): Promise<StoredEvent[]> {
    const filter: Filter<EventDoc> = { instanceId: q.instanceId };
    const version: Record<string, number> = {};
    if (q.fromVersion !== undefined) version.$gte = q.fromVersion;
    if (q.toVersion !== undefined) version.$lte = q.toVersion;
    if (Object.keys(version).length > 0) filter.version = version;
    const time: Record<string, number> = {};
    if (q.fromTime !== undefined) time.$gte = q.fromTime;
    if (q.toTime !== undefined) time.$lte = q.toTime;
    if (Object.keys(time).length > 0) filter.timestamp = time;
    if (q.eventTypes !== undefined) filter.eventType = { $in: q.eventTypes };
    const docs = await call('query state_events', () =>
      this.events
        .find(filter)
        .sort({ version: q.order === 'desc' ? -1 : 1 })
        .limit(q.limit ?? 0)
        .toArray(),
    );
    return docs.map(fromEventDoc);
  }

  async deleteEvents(instanceId: string, belowVersion: number): Promise<number> {
    const r = await call('delete state_events', () => this.events.deleteMany({ instanceId, version: { $lt: belowVersion } }));
    return r.deletedCount;
  }

  async putSnapshot(record: SnapshotRecord): Promise<void> {
    const { _id, ...doc } = toSnapshotDoc(record);
    await call('write state_snapshots', () => this.snapshots.replaceOne({ _id }, doc, { upsert: true }));
  }

  async getSnapshot(snapshotId: string): Promise<SnapshotRecord | undefined> {
    const d = await call('read state_snapshots', () => this.snapshots.findOne({ _id: snapshotId }));
    return d ? fromSnapshotDoc(d) : undefined;
  }

  async findSnapshot(instanceId: string, q: SnapshotQuery = {}): Promise<SnapshotRecord | undefined> {
    const filter: Filter<SnapshotDoc> = { instanceId };
    if (q.atOrBeforeVersion !== undefined) filter.version = { $lte: q.atOrBeforeVersion };
    if (q.atOrBeforeTime !== undefined) filter.stateTimestamp = { $lte: q.atOrBeforeTime };
    if (q.types !== undefined) filter.type = { $in: q.types };
    const d = await call('read state_snapshots', () => this.snapshots.find(filter).sort({ version: -1 }).limit(1).next());
    return d ? fromSnapshotDoc(d) : undefined;
  }

  async listSnapshots(instanceId: string): Promise<SnapshotRecord[]> {
    const docs = await call('read state_snapshots', () => this.snapshots.find({ instanceId }).sort({ version: -1 }).toArray());
    return docs.map(fromSnapshotDoc);
  }

  async expiredSnapshots(now: number, limit = 1000): Promise<SnapshotRecord[]> {
    const docs = await call('read state_snapshots', () =>
      this.snapshots
        .find({ expiresAt: { $ne: null, $lte: now }, permanent: false, critical: false })
        .sort({ expiresAt: 1 })
        .limit(limit)
        .toArray(),
    );
    return docs.map(fromSnapshotDoc);
  }

  async deleteSnapshots(snapshotIds: string[]): Promise<number> {
    if (snapshotIds.length === 0) return 0;
    const r = await call('delete state_snapshots', () => this.snapshots.deleteMany({ _id: { $in: snapshotIds } }));
    return r.deletedCount;
  }

  async counts(): Promise<StoreCounts> {
    const [ids, events, snapshots] = await call('count', () =>
      Promise.all([this.states.distinct('instanceId'), this.events.countDocuments(), this.snapshots.countDocuments()]),
    );
    return { agents: ids.length, events, snapshots };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsConnection) await this.connection.close();
  }
}

/**
 * Runs an unordered bulkWrite; duplicate-key failures are the idempotency
 * guard firing, not errors. FerretDB 1.24 stops an unordered bulk at its first
 * error, so the operations after the last reported error are run again; every
 * operation here is idempotent, so running one twice is harmless.
 */
async function bulk<T extends { _id: string }>(
  coll: Collection<T>,
  ops: AnyBulkWriteOperation<T>[],
  what: string,
): Promise<{ ok: number; duplicates: number }> {
  let ok = 0;
  let duplicates = 0;
  let rest = ops;
  while (rest.length > 0) {
    try {
      const r = await coll.bulkWrite(rest, { ordered: false });
      return { ok: ok + r.insertedCount + r.upsertedCount + r.matchedCount, duplicates };
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError)) throw unavailable(what, err);
      const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
      const other = errors.find((e) => e.code !== DUPLICATE_KEY);
      if (other) throw new UnavailableError(`MongoDB (${what}: ${other.errmsg ?? err.message})`, { cause: err });
      const done = err.result.insertedCount + err.result.upsertedCount + err.result.matchedCount;
      ok += done;
      duplicates += errors.length;
      if (done + errors.length >= rest.length) return { ok, duplicates };
      rest = rest.slice(Math.max(...errors.map((e) => e.index)) + 1);
    }
  }
  return { ok, duplicates };
}
