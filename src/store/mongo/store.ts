import type { Collection, Document, Filter } from 'mongodb';
import type pg from 'pg';
import { ClosedError, ConfigError } from '../../errors.js';
import { call, unavailable } from './errors.js';
import { checkFilter, checkLimit, encodeCursor } from '../query.js';
import type { EventQuery, QueryPage, StateFilter, SnapshotQuery, SnapshotRecord, StateStore, StoreCounts, LogBinding, StoredEvent, StoredState, WriteResult } from '../port.js';
import { ferretdbCounts, ferretdbQuery, tuneFerretdbTables } from './ferretdb-postgres.js';
import { MongoConnection, type MongoConnectionOptions } from './connection.js';
import { Limiter, forEachLimited } from '../../util/limit.js';
import { insertAbsent, isDuplicateKey } from './insert.js';
import { insertFerretdbRows, upsertFerretdbRows } from './ferretdb-rows.js';
import { FerretdbPostgres } from './direct-rows.js';
import { ferretdbEventRows, ferretdbSnapshotRow } from './ferretdb-reads.js';
import { STORE_INDEXES } from './indexes.js';
import { fromEventDoc, fromSnapshotDoc, fromStateDoc, summaryFilter, summaryOf, SUMMARY_PROJECTION, toEventDoc, toSnapshotDoc, toStateDoc, type EventDoc, type SnapshotDoc, type StateDoc } from './documents.js';
import { eventFilter, snapshotFilter } from './filters.js';

export interface MongoStoreOptions extends MongoConnectionOptions {
  /** An open connection the caller owns (never closed here). Else one is opened from the other fields. */
  connection?: MongoConnection;
  /**
   * How many write commands (state replaces, event insert chunks) this store
   * has in flight at once, however many callers share it, 1..32. @default 16
   */
  concurrency?: number;
  /**
   * FerretDB 1.x on PostgreSQL only: the PostgreSQL database it stores into
   * (e.g. postgres://postgres@127.0.0.1:15432/ferretdb). `setup()` then adds
   * the indexes that let its equality pushdown find an agent without a scan
   * (ferretdb-postgres.ts). @default undefined (none)
   */
  ferretdbPostgresUrl?: string;
  /**
   * With `ferretdbPostgresUrl`: write the event mirror's rows (insert if
   * absent) and the state rows (version-guarded upsert) into FerretDB's
   * PostgreSQL tables directly, one statement per batch, in FerretDB's own
   * document form, once a probe has shown that this FerretDB stores
   * documents exactly so (ferretdb-rows.ts); false = always through
   * FerretDB. @default true
   */
  directInserts?: boolean;
  /**
   * With `ferretdbPostgresUrl`: read the event mirror (`queryEvents`) and
   * find snapshots (`findSnapshot`) from FerretDB's PostgreSQL tables
   * directly, the whole filter, order and limit on FerretDB's own indexes
   * (ferretdb-reads.ts), once the same probe as `directInserts` has shown the
   * document form; false = always through FerretDB. @default true
   */
  directReads?: boolean;
}

/**
 * Event rows per insert command. Measured on FerretDB 1.24/PostgreSQL with
 * chat-window events (~2 KB changesets): 500 per command one at a time ~500
 * rows/s, 100 x 4 in flight ~900, 50 x 8 ~1,070 (issue 11).
 */
const EVENT_CHUNK = 50;
/**
 * What `queryEvents` reads of a mirror row: everything but `eventData.metadata`
 * (the port returns the body, which has it); `eventData.changeset` is read, as
 * a row written with `bodyRest` keeps its changes only there (documents.ts).
 */
const EVENT_PROJECTION = { 'eventData.metadata': 0 } as const;
/** Ids per `$in` read. */
const READ_CHUNK = 200;

/**
 * StateStore on MongoDB or a MongoDB-wire server (FerretDB): `agent_states`,
 * `state_events`, `state_snapshots` with the seed's documents and indexes
 * (documents.ts, docs/store.md). No transactions: idempotency comes from the
 * writes themselves (DESIGN.md Invariant 4).
 *
 * State writes are single guarded replaces run `concurrency` at a time, not
 * one bulkWrite: on FerretDB's PostgreSQL backend a guarded `updateOne` by
 * `_id` takes ~4 ms and 16 in flight scale, while an unordered bulkWrite of
 * 300 updates never finished and broke the server (issue 11). Event rows are
 * plain inserts, which both backends take in bulk.
 */
export class MongoStore implements StateStore {
  private readonly states: Collection<StateDoc>;
  private readonly events: Collection<EventDoc>;
  private readonly snapshots: Collection<SnapshotDoc>;
  private readonly writes: Limiter;
  private closed = false;

  private constructor(
    readonly connection: MongoConnection,
    private readonly ownsConnection: boolean,
    concurrency: number,
  ) {
    this.states = connection.db.collection<StateDoc>('agent_states');
    this.events = connection.db.collection<EventDoc>('state_events');
    this.snapshots = connection.db.collection<SnapshotDoc>('state_snapshots');
    this.writes = new Limiter(concurrency);
  }

  /** PostgreSQL under FerretDB (`ferretdbPostgresUrl` set): its pool and the direct row path (direct-rows.ts). */
  private postgres: FerretdbPostgres | undefined;

  /**
   * Opens (or adopts) a connection. Call `setup()` once to create the indexes.
   * @throws ConfigError on a bad `concurrency`
   */
  static async connect(options: MongoStoreOptions): Promise<MongoStore> {
    const concurrency = options.concurrency ?? 16;
    // Capped: 64 single writes in flight wedged FerretDB 1.24 on PostgreSQL (every command, even ping, hung until restart).
    if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 32) throw new ConfigError('concurrency', 'must be an integer 1..32');
    const store = options.connection ? new MongoStore(options.connection, false, concurrency) : new MongoStore(await MongoConnection.connect(options), true, concurrency);
    if (options.ferretdbPostgresUrl !== undefined) {
      const database = store.connection.db.databaseName;
      store.postgres = new FerretdbPostgres(
        options.ferretdbPostgresUrl,
        database,
        options.directInserts ?? true,
        options.directReads ?? true,
        (what, fn) => store.call(what, fn),
        () => store.meta() as unknown as Collection<Document>,
      );
    }
    return store;
  }

  /**
   * Creates the indexes (indexes.ts) and, on FerretDB/PostgreSQL, tunes its tables.
   */
  async setup(): Promise<void> {
    const colls = { agent_states: this.states, state_events: this.events, state_snapshots: this.snapshots } as const;
    // One index per createIndexes call: FerretDB 1.24 drops the connection
    // when a multi-index createIndexes names indexes that already exist.
    for (const [name, spec] of STORE_INDEXES) {
      const coll: Collection<Document> = colls[name] as unknown as Collection<Document>;
      await this.call(`create index ${spec.name ?? ''}`, () => coll.createIndexes([spec]));
    }
    if (this.postgres) await tuneFerretdbTables(this.postgres.url, this.connection.db.databaseName);
  }

  /**
   * Events first (insert-if-absent), then states, each state one guarded
   * replace `{_id, version: {$lt: v}}` with upsert. When the guard holds (the
   * stored version is equal or newer) the upsert's insert hits the `_id` and
   * fails with a duplicate key: the write is skipped, so a redelivered batch
   * never moves an agent back (DESIGN.md Invariant 4). A duplicate can also
   * mean another writer inserted the agent between our match and our insert
   * (a partition moving between projectors); the replace is then retried
   * without upsert, so the higher version still wins.
   */
  async writeBatch(batch: { states: StoredState[]; events: StoredEvent[] }): Promise<WriteResult> {
    this.assertOpen();
    const result: WriteResult = { statesWritten: 0, statesSkipped: 0, eventsInserted: 0, eventsExisting: 0 };
    if (batch.events.length > 0) {
      const docs = batch.events.map(toEventDoc);
      const viaFerretdb = await this.insertRows(docs, result);
      const chunks: EventDoc[][] = [];
      for (let i = 0; i < viaFerretdb.length; i += EVENT_CHUNK) chunks.push(viaFerretdb.slice(i, i + EVENT_CHUNK));
      // Chunks in flight together: FerretDB converts each document on its own, so one large command is the slowest shape.
      await forEachLimited(chunks, this.writes, async (chunk) => {
        const { ok, duplicates } = await insertAbsent(this.events, chunk, 'write state_events');
        result.eventsInserted += ok;
        result.eventsExisting += duplicates;
      });
    }
    const winners = new Map<string, StoredState>();
    for (const s of batch.states) {
      const prev = winners.get(s.instanceId);
      if (prev !== undefined) {
        result.statesSkipped++;
        if (s.version <= prev.version) continue;
      }
      winners.set(s.instanceId, s);
    }
    const viaFerretdb = await this.upsertRows([...winners.values()], result);
    await forEachLimited(viaFerretdb, this.writes, async (s) => {
      if (await this.writeState(toStateDoc(s))) result.statesWritten++;
      else result.statesSkipped++;
    });
    return result;
  }

  /**
   * On FerretDB/PostgreSQL (with `ferretdbPostgresUrl`, once the probe has
   * shown that this FerretDB stores documents exactly as ferretdb-rows.ts
   * encodes them), inserts the event rows into FerretDB's table with one SQL
   * statement per chunk of rows (direct-rows.ts), insert-if-absent on the same unique
   * indexes FerretDB's insert uses. Returns the documents left for FerretDB:
   * all of them elsewhere or before the collection exists (FerretDB creates
   * it), and any document with a value the encoder does not write.
   */
  private async insertRows(docs: EventDoc[], result: WriteResult): Promise<EventDoc[]> {
    const direct = await this.postgres?.write('state_events', docs, insertFerretdbRows);
    if (direct === undefined) return docs;
    for (const { rows, written } of direct.chunks) {
      result.eventsInserted += written;
      result.eventsExisting += rows - written;
    }
    return direct.rest;
  }

  /**
   * The state rows' counterpart of {@link insertRows}: one version-guarded
   * upsert statement for the batch's winners (ferretdb-rows.ts), instead of
   * one guarded `replaceOne` per agent through FerretDB. Returns the states
   * left for FerretDB.
   */
  private async upsertRows(states: StoredState[], result: WriteResult): Promise<StoredState[]> {
    if (states.length === 0) return states;
    const byId = new Map(states.map((s) => [s.instanceId, s]));
    // In `_id` order: two projectors writing overlapping agents (a partition moving) lock rows in the same order.
    const docs = states.map(toStateDoc).sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));
    const direct = await this.postgres?.write('agent_states', docs, upsertFerretdbRows);
    if (direct === undefined) return states;
    for (const { rows, written } of direct.chunks) {
      result.statesWritten += written;
      result.statesSkipped += rows - written;
    }
    return direct.rest.map((d) => byId.get(d._id)!);
  }

  /**
   * How event and state rows are written: `postgres` (into FerretDB's tables
   * directly, see {@link MongoStoreOptions.directInserts}) or `ferretdb`
   * (its commands). Probes the server on the first call with `ferretdbPostgresUrl`.
   */
  async eventInsertPath(): Promise<'postgres' | 'ferretdb'> {
    return (await this.postgres?.direct()) ? 'postgres' : 'ferretdb';
  }

  /**
   * Where `queryEvents` and `findSnapshot` read: `postgres` (FerretDB's
   * tables directly, see {@link MongoStoreOptions.directReads}) or `ferretdb`
   * (its commands, as on any MongoDB-wire server).
   */
  async eventReadPath(): Promise<'postgres' | 'ferretdb'> {
    this.assertOpen();
    return (await this.postgres?.readsDirect()) ? 'postgres' : 'ferretdb';
  }

  /** One version-guarded replace; true when it wrote. */
  private async writeState(doc: StateDoc): Promise<boolean> {
    const guard: Filter<StateDoc> = { _id: doc._id, version: { $lt: doc.version } };
    try {
      const r = await this.states.replaceOne(guard, doc, { upsert: true });
      return r.matchedCount + r.upsertedCount > 0;
    } catch (err) {
      if (!isDuplicateKey(err)) throw unavailable('write agent_states', err);
    }
    const r = await this.call('write agent_states', () => this.states.replaceOne(guard, doc));
    return r.matchedCount > 0;
  }

  /**
   * One agent: `findOne({_id})`. Several: `_id: {$in}` in chunks of 200, or on
   * FerretDB/PostgreSQL with the containment indexes, `concurrency` single reads
   * at a time (its `$in` reads the whole table).
   * Measured on FerretDB/PostgreSQL (2 shared cores): 200 single reads took
   * ~1 s even 16 at a time, `$in` of 100 ids ~160 ms (issue 11).
   */
  async getStates(instanceIds: string[]): Promise<Map<string, StoredState>> {
    const out = new Map<string, StoredState>();
    const ids = [...new Set(instanceIds)];
    if (ids.length === 1) {
      const d = await this.call('read agent_states', () => this.states.findOne({ _id: ids[0]! }));
      if (d) out.set(d._id, fromStateDoc(d));
      return out;
    }
    if (this.postgres) {
      // FerretDB does not push `$in` down: each chunk fetched the whole table (10 s at
      // 10,000 agents). A single `_id` read is index-served there (ferretdb-postgres.ts).
      await forEachLimited(ids, this.writes, async (id) => {
        const d = await this.call('read agent_states', () => this.states.findOne({ _id: id }));
        if (d) out.set(d._id, fromStateDoc(d));
      });
      return out;
    }
    for (let i = 0; i < ids.length; i += READ_CHUNK) {
      const chunk = ids.slice(i, i + READ_CHUNK);
      const docs = await this.call('read agent_states', () => this.states.find({ _id: { $in: chunk } }).toArray());
      for (const d of docs) out.set(d._id, fromStateDoc(d));
    }
    return out;
  }

  async getState(instanceId: string): Promise<StoredState | undefined> {
    return (await this.getStates([instanceId])).get(instanceId);
  }

  async listAgents(options: { afterId?: string; limit?: number } = {}): Promise<string[]> {
    const limit = checkLimit(options.limit, 'listAgents');
    if (this.postgres) {
      const afterId = options.afterId === undefined ? {} : { afterId: options.afterId };
      return (await ferretdbQuery(this.pg(), this.connection.db.databaseName, afterId, limit)).map((d) => d._id);
    }
    const filter: Filter<StateDoc> = options.afterId === undefined ? {} : { _id: { $gt: options.afterId } };
    const docs = await this.call('list agent_states', () =>
      this.states
        .find(filter, { projection: { _id: 1 } })
        .sort({ _id: 1 })
        .limit(limit ?? 0)
        .toArray(),
    );
    return docs.map((d) => d._id);
  }

  async query(filter: StateFilter = {}): Promise<QueryPage> {
    const f = checkFilter(filter);
    // FerretDB sorts and limits a filtered find only after fetching every document: PostgreSQL answers instead.
    const docs = this.postgres
      ? await ferretdbQuery(this.pg(), this.connection.db.databaseName, f, f.limit + 1)
      : await this.call('query agent_states', () =>
          this.states
            .find(summaryFilter(f), { projection: SUMMARY_PROJECTION })
            .sort({ _id: 1 })
            .limit(f.limit + 1)
            .toArray(),
        );
    const agents = docs.slice(0, f.limit).map((d) => summaryOf(d as Parameters<typeof summaryOf>[0]));
    const last = agents.at(-1);
    return { agents, nextCursor: docs.length > f.limit && last ? encodeCursor(last.instanceId) : null };
  }

  async deleteState(instanceId: string): Promise<boolean> {
    const r = await this.call('delete agent_states', () => this.states.deleteOne({ _id: instanceId }));
    return r.deletedCount > 0;
  }

  async queryEvents(q: EventQuery): Promise<StoredEvent[]> {
    const limit = checkLimit(q.limit, 'queryEvents');
    this.assertOpen();
    const direct = await this.postgres?.read('state_events', 'query state_events', (pool, table) => ferretdbEventRows(pool, table, q, limit));
    if (direct !== undefined) return direct;
    const docs = await this.call('query state_events', () =>
      this.events
        .find(eventFilter(q), { projection: EVENT_PROJECTION })
        .sort({ version: q.order === 'desc' ? -1 : 1 })
        .limit(limit ?? 0)
        .toArray(),
    );
    return docs.map(fromEventDoc);
  }

  async deleteEvents(instanceId: string, belowVersion: number): Promise<number> {
    const r = await this.call('delete state_events', () => this.events.deleteMany({ instanceId, version: { $lt: belowVersion } }));
    return r.deletedCount;
  }

  async putSnapshot(record: SnapshotRecord): Promise<void> {
    const doc = toSnapshotDoc(record);
    await this.call('write state_snapshots', () => this.snapshots.replaceOne({ _id: doc._id }, doc, { upsert: true }));
  }

  async getSnapshot(snapshotId: string): Promise<SnapshotRecord | undefined> {
    const d = await this.call('read state_snapshots', () => this.snapshots.findOne({ _id: snapshotId }));
    return d ? fromSnapshotDoc(d) : undefined;
  }

  async findSnapshot(instanceId: string, q: SnapshotQuery = {}): Promise<SnapshotRecord | undefined> {
    this.assertOpen();
    const direct = await this.postgres?.read('state_snapshots', 'read state_snapshots', async (pool, table) => (await ferretdbSnapshotRow(pool, table, instanceId, q)) ?? null);
    if (direct !== undefined) return direct === null ? undefined : fromSnapshotDoc(direct);
    const d = await this.call('read state_snapshots', () => this.snapshots.find(snapshotFilter(instanceId, q)).sort({ version: -1 }).limit(1).next());
    return d ? fromSnapshotDoc(d) : undefined;
  }

  async listSnapshots(instanceId: string): Promise<SnapshotRecord[]> {
    const docs = await this.call('read state_snapshots', () => this.snapshots.find({ instanceId }).sort({ version: -1 }).toArray());
    return docs.map(fromSnapshotDoc);
  }

  async expiredSnapshots(now: number, limit = 1000): Promise<SnapshotRecord[]> {
    const n = checkLimit(limit, 'expiredSnapshots') ?? 0;
    const docs = await this.call('read state_snapshots', () =>
      this.snapshots
        .find({ 'retentionPolicy.expiresAt': { $ne: null, $lte: new Date(now) }, 'retentionPolicy.permanent': false, 'retentionPolicy.critical': false })
        .sort({ 'retentionPolicy.expiresAt': 1, _id: 1 })
        .limit(n)
        .toArray(),
    );
    return docs.map(fromSnapshotDoc);
  }

  async deleteSnapshots(snapshotIds: string[]): Promise<number> {
    if (snapshotIds.length === 0) return 0;
    const r = await this.call('delete state_snapshots', () => this.snapshots.deleteMany({ _id: { $in: snapshotIds } }));
    return r.deletedCount;
  }

  /**
   * Exact row counts and the highest version. On FerretDB/PostgreSQL (with
   * `ferretdbPostgresUrl`) read from PostgreSQL: FerretDB's `countDocuments`
   * fetches every document (ferretdb-postgres.ts).
   */
  async counts(): Promise<StoreCounts> {
    if (this.postgres) {
      return ferretdbCounts(this.pg(), this.connection.db.databaseName);
    }
    const [agents, events, snapshots, top] = await this.call('count', () =>
      Promise.all([
        this.states.countDocuments(),
        this.events.countDocuments(),
        this.snapshots.countDocuments(),
        // The `version` index: one entry read, not a scan.
        this.states
          .find({}, { projection: { _id: 0, version: 1 } })
          .sort({ version: -1 })
          .limit(1)
          .next(),
      ]),
    );
    return { agents, events, snapshots, maxVersion: top?.version ?? 0 };
  }

  async getLogBinding(): Promise<LogBinding | undefined> {
    const doc = await this.call('read store_meta', () => this.meta().findOne({ _id: 'log_binding' }));
    return doc ? { logId: doc.logId, topic: doc.topic, boundAt: doc.boundAt } : undefined;
  }

  async setLogBinding(binding: LogBinding): Promise<void> {
    await this.call('write store_meta', () => this.meta().replaceOne({ _id: 'log_binding' }, { ...binding }, { upsert: true }));
  }

  /**
   * Offsets are decimal strings in the documents (exact past 2^53), so the
   * maximum is taken here over every state's position: a read of one small
   * field per agent, at start and by `doctor` only.
   */
  async highestPositions(): Promise<Record<number, string>> {
    const docs = await this.call('read agent_states', () => this.states.find({}, { projection: { _id: 0, position: 1 } }).toArray());
    const high: Record<number, bigint> = {};
    for (const d of docs) {
      const p = d.position.partition;
      const o = BigInt(d.position.offset);
      if (high[p] === undefined || o > high[p]) high[p] = o;
    }
    return Object.fromEntries(Object.entries(high).map(([p, o]) => [Number(p), o.toString()]));
  }

  async clearProjection(): Promise<string[]> {
    const ids = (await this.call('read agent_states', () => this.states.find({}, { projection: { _id: 1 } }).toArray())).map((d) => d._id);
    await this.call('clear state_events', () => this.events.deleteMany({}));
    await this.call('clear state_snapshots', () => this.snapshots.deleteMany({}));
    await this.call('clear agent_states', () => this.states.deleteMany({}));
    await this.call('clear store_meta', () => this.meta().deleteOne({ _id: 'log_binding' }));
    return ids;
  }

  /** The pool to FerretDB's PostgreSQL (`ferretdbPostgresUrl` set), on an open store. */
  private pg(): pg.Pool {
    this.assertOpen();
    return this.postgres!.pool();
  }

  /** `store_meta`: one document per setting of the store itself (the log binding). */
  private meta(): Collection<{ _id: string; logId: string; topic: string; boundAt: number }> {
    return this.connection.db.collection('store_meta');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.postgres?.close();
    if (this.ownsConnection) await this.connection.close();
  }

  /**
   * Use after close is AS_CLOSED on every adapter: the driver would reconnect
   * silently, and a connection the caller owns stays open.
   */
  private assertOpen(): void {
    if (this.closed) throw new ClosedError('the MongoDB state store');
  }

  /** A driver call on an open store, its failures mapped by {@link call}. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.assertOpen();
    return call(what, fn);
  }
}
