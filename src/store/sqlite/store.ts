import type Database from 'better-sqlite3';
import { ClosedError } from '../../errors.js';
import type { EventQuery, QueryPage, StateFilter, SnapshotQuery, SnapshotRecord, StateStore, StoreCounts, LogBinding, StoredEvent, StoredState, WriteResult } from '../port.js';
import { run } from './errors.js';
import { StatementCache } from './statements.js';
import { EXPIRED_SNAPSHOTS, INSERT_EVENT, JSON_LIST, PUT_SNAPSHOT, UPSERT_STATE, checkLimit, eventQuerySql, findSnapshotSql, listAgentsSql, stateQuerySql, type Sql } from './queries.js';
import { eventParams, fromEventRow, fromSnapshotRow, fromStateRow, fromSummaryRow, snapshotParams, stateParams, type EventRow, type SnapshotRow, type StateRow, type SummaryRow } from './rows.js';
import { checkFilter, encodeCursor } from '../query.js';
import { createStoreSchema, openOrAdopt, openStoreDatabase } from './schema.js';

export interface SqliteStateStoreOptions {
  /**
   * Database file (created if missing), or `':memory:'` for a throwaway store.
   * Required unless `database` is given. It may be the event log's file: the
   * tables do not overlap.
   */
  path?: string;
  /**
   * An open better-sqlite3 database the caller owns: never closed here, and
   * its journal mode and `synchronous` setting are left as the caller chose
   * (the durability of `writeBatch` is then theirs; the SQLite event log
   * opens its file with WAL and synchronous=FULL, as `path` does).
   */
  database?: Database.Database;
  /** How long a write waits for another process's write lock (SQLite busy_timeout). Only with `path`. @default 5000 */
  busyTimeoutMs?: number;
  /**
   * The caller only reads (the CLI's `list`, `status`, `doctor`): with `path`
   * in a directory this process may not write, the file is read from a
   * private copy instead of failing (issue 12 §7). Only with `path`.
   * @default false
   */
  readOnly?: boolean;
}

const DEFAULT_EXPIRED_LIMIT = 1000;

/**
 * The StateStore port on one SQLite file (embedded profile, DESIGN.md
 * Storage): `agent_states`, `state_events`, `state_snapshots`, as the MongoDB
 * adapter has them, passing the same contract suite.
 *
 * Each `writeBatch` is one `BEGIN IMMEDIATE` transaction (event rows
 * insert-if-absent, then version-guarded state upserts), fsynced before it
 * resolves (WAL, synchronous=FULL): the projector commits its Kafka offsets
 * only after that (Invariant 4). Offsets are 64-bit INTEGER columns read as
 * bigint, so they come back as the exact strings written.
 *
 * better-sqlite3 is synchronous: each call runs to completion on the calling
 * thread (sub-millisecond for point reads; a batch's fsync for writes).
 */
export class SqliteStateStore implements StateStore {
  private readonly db: Database.Database;
  private readonly ownsDatabase: boolean;
  private readonly where: string;
  private readonly statements: StatementCache;
  private closed = false;

  /** Opens (or adopts) the database. Call `setup()` once to create the tables. */
  constructor(options: SqliteStateStoreOptions) {
    const opened = openOrAdopt(options, (path, busy, readOnly) => run('open', () => openStoreDatabase(path, busy, [], readOnly)));
    this.db = opened.db;
    this.ownsDatabase = opened.owns;
    this.where = opened.where;
    // Integers as bigint: offsets and versions are read exactly.
    this.statements = new StatementCache(this.db, true, 'prepare');
  }

  /** Creates the tables and indexes; idempotent, and safe to run from two processes at once. */
  async setup(): Promise<void> {
    this.open();
    run('setup', () => createStoreSchema(this.db, this.where));
    // Planner statistics (SQLite's advice for long-lived connections), so a
    // type-filtered history uses the type index once tables have rows.
    // analysis_limit bounds the work on big files. A caller's connection is
    // left alone.
    if (this.ownsDatabase) run('optimize', () => this.db.exec('PRAGMA analysis_limit = 400; PRAGMA optimize = 0x10002;'));
  }

  /**
   * One write transaction: events first (insert-if-absent), then states
   * (version-guarded). Within a batch only the highest version of each agent
   * is written, as the MongoDB adapter does; the others count as skipped.
   * Rows are converted before the transaction starts, so a malformed row
   * fails the batch with `AS_INVALID_INPUT` before anything is written.
   */
  async writeBatch(batch: { states: StoredState[]; events: StoredEvent[] }): Promise<WriteResult> {
    this.open();
    const result: WriteResult = { statesWritten: 0, statesSkipped: 0, eventsInserted: 0, eventsExisting: 0 };
    if (batch.states.length === 0 && batch.events.length === 0) return result;
    const events = batch.events.map(eventParams);
    const winners = new Map<string, StoredState>();
    for (const s of batch.states) {
      const prev = winners.get(s.instanceId);
      if (prev !== undefined) {
        result.statesSkipped++;
        if (s.version <= prev.version) continue;
      }
      winners.set(s.instanceId, s);
    }
    const states = [...winners.values()].map(stateParams);
    const insertEvent = this.stmt(INSERT_EVENT);
    const upsertState = this.stmt(UPSERT_STATE);
    const counts = run('write batch', () =>
      this.db
        .transaction(() => {
          const c = { inserted: 0, existing: 0, written: 0, skipped: 0 };
          for (const p of events) {
            if (insertEvent.run(p).changes > 0) c.inserted++;
            else c.existing++;
          }
          for (const p of states) {
            if (upsertState.run(p).changes > 0) c.written++;
            else c.skipped++;
          }
          return c;
        })
        .immediate(),
    );
    result.eventsInserted = counts.inserted;
    result.eventsExisting = counts.existing;
    result.statesWritten = counts.written;
    result.statesSkipped += counts.skipped;
    return result;
  }

  async getStates(instanceIds: string[]): Promise<Map<string, StoredState>> {
    this.open();
    const out = new Map<string, StoredState>();
    if (instanceIds.length === 0) return out;
    const rows =
      instanceIds.length === 1
        ? this.all<StateRow>('read agent_states', { sql: 'SELECT * FROM agent_states WHERE instance_id = ?', params: instanceIds })
        : this.all<StateRow>('read agent_states', {
            sql: `SELECT * FROM agent_states WHERE instance_id IN ${JSON_LIST}`,
            params: [JSON.stringify(instanceIds)],
          });
    for (const r of rows) out.set(r.instance_id, fromStateRow(r));
    return out;
  }

  async getState(instanceId: string): Promise<StoredState | undefined> {
    return (await this.getStates([instanceId])).get(instanceId);
  }

  /** Ids in SQLite's BINARY order (UTF-8 bytes), which equals JS string order for ids without characters above U+FFFF mixed with U+E000..U+FFFF. */
  async listAgents(options: { afterId?: string; limit?: number } = {}): Promise<string[]> {
    this.open();
    return this.all<{ instance_id: string }>('list agent_states', listAgentsSql(options)).map((r) => r.instance_id);
  }

  async query(filter: StateFilter = {}): Promise<QueryPage> {
    this.open();
    const f = checkFilter(filter);
    const rows = this.all<SummaryRow>('query agent_states', stateQuerySql(f));
    const agents = rows.slice(0, f.limit).map(fromSummaryRow);
    const last = agents.at(-1);
    return { agents, nextCursor: rows.length > f.limit && last ? encodeCursor(last.instanceId) : null };
  }

  async deleteState(instanceId: string): Promise<boolean> {
    return this.change('delete agent_states', 'DELETE FROM agent_states WHERE instance_id = ?', [instanceId]) > 0;
  }

  async queryEvents(query: EventQuery): Promise<StoredEvent[]> {
    this.open();
    return this.all<EventRow>('query state_events', eventQuerySql(query)).map(fromEventRow);
  }

  async deleteEvents(instanceId: string, belowVersion: number): Promise<number> {
    return this.change('delete state_events', 'DELETE FROM state_events WHERE instance_id = ? AND version < ?', [instanceId, belowVersion]);
  }

  async putSnapshot(record: SnapshotRecord): Promise<void> {
    this.open();
    const params = snapshotParams(record);
    run('write state_snapshots', () => this.stmt(PUT_SNAPSHOT).run(params));
  }

  async getSnapshot(snapshotId: string): Promise<SnapshotRecord | undefined> {
    this.open();
    const [row] = this.all<SnapshotRow>('read state_snapshots', { sql: 'SELECT * FROM state_snapshots WHERE snapshot_id = ?', params: [snapshotId] });
    return row === undefined ? undefined : fromSnapshotRow(row);
  }

  async findSnapshot(instanceId: string, query: SnapshotQuery = {}): Promise<SnapshotRecord | undefined> {
    this.open();
    const [row] = this.all<SnapshotRow>('read state_snapshots', findSnapshotSql(instanceId, query));
    return row === undefined ? undefined : fromSnapshotRow(row);
  }

  async listSnapshots(instanceId: string): Promise<SnapshotRecord[]> {
    this.open();
    const sql = 'SELECT * FROM state_snapshots WHERE instance_id = ? ORDER BY version DESC, snapshot_id DESC';
    return this.all<SnapshotRow>('read state_snapshots', { sql, params: [instanceId] }).map(fromSnapshotRow);
  }

  /** @param limit @default 1000 */
  async expiredSnapshots(now: number, limit = DEFAULT_EXPIRED_LIMIT): Promise<SnapshotRecord[]> {
    this.open();
    const n = checkLimit(limit, 'expiredSnapshots') ?? -1; // SQLite: a negative LIMIT is no limit
    return this.all<SnapshotRow>('read state_snapshots', { sql: EXPIRED_SNAPSHOTS, params: [now, n] }).map(fromSnapshotRow);
  }

  async deleteSnapshots(snapshotIds: string[]): Promise<number> {
    if (snapshotIds.length === 0) return 0;
    return this.change('delete state_snapshots', `DELETE FROM state_snapshots WHERE snapshot_id IN ${JSON_LIST}`, [JSON.stringify(snapshotIds)]);
  }

  /** The three counts from one read transaction, so they describe the same moment. */
  async counts(): Promise<StoreCounts> {
    this.open();
    const count = (table: string): number => Number(this.stmt(`SELECT count(*) AS n FROM ${table}`).pluck().get());
    return run('count', () =>
      this.db.transaction(() => ({
        agents: count('agent_states'),
        events: count('state_events'),
        snapshots: count('state_snapshots'),
        maxVersion: Number(this.stmt('SELECT coalesce(max(version), 0) FROM agent_states').pluck().get()),
      }))(),
    );
  }

  async getLogBinding(): Promise<LogBinding | undefined> {
    this.open();
    const value = run('read store_meta', () => this.stmt(`SELECT value FROM store_meta WHERE key = 'log_binding'`).pluck().get()) as string | undefined;
    return value === undefined ? undefined : (JSON.parse(value) as LogBinding);
  }

  async setLogBinding(binding: LogBinding): Promise<void> {
    this.change('write store_meta', `INSERT OR REPLACE INTO store_meta (key, value) VALUES ('log_binding', ?)`, [JSON.stringify(binding)]);
  }

  async highestPositions(): Promise<Record<number, string>> {
    this.open();
    const rows = run('read agent_states', () => this.stmt('SELECT part, max(off) AS off FROM agent_states GROUP BY part').all()) as { part: bigint; off: bigint }[];
    return Object.fromEntries(rows.map((r) => [Number(r.part), r.off.toString()]));
  }

  async clearProjection(): Promise<string[]> {
    this.open();
    return run('clear projection', () =>
      this.db.transaction(() => {
        const ids = this.stmt('SELECT instance_id FROM agent_states').pluck().all() as string[];
        for (const table of ['agent_states', 'state_events', 'state_snapshots']) this.db.prepare(`DELETE FROM ${table}`).run();
        this.db.prepare(`DELETE FROM store_meta WHERE key = 'log_binding'`).run();
        return ids;
      })(),
    );
  }

  /** Closes the file if this store opened it. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.statements.clear();
    if (!this.ownsDatabase) return;
    try {
      this.db.pragma('optimize'); // keeps planner statistics current for the next open
    } catch {
      // Only statistics: a file busy with another process's write must not make close() fail.
    }
    this.db.close();
  }

  private open(): void {
    if (this.closed) throw new ClosedError('the SQLite state store');
  }

  private stmt(sql: string): Database.Statement {
    return this.statements.get(sql);
  }

  private all<T>(what: string, q: Sql): T[] {
    const s = this.stmt(q.sql);
    return run(what, () => s.all(...q.params) as T[]);
  }

  private change(what: string, sql: string, params: unknown[]): number {
    this.open();
    const s = this.stmt(sql);
    return run(what, () => s.run(...params).changes);
  }
}
