import type Database from 'better-sqlite3';
import { ClosedError } from '../../errors.js';
import { applyFilter, type RecordFilter, type RecoveryPolicy, type RecoveryRecord, type RecoveryRecordStore } from '../recovery-records.js';
import { run } from './errors.js';
import { openOrAdopt, openStoreDatabase } from './schema.js';

export interface SqliteRecoveryRecordStoreOptions {
  /** Database file (created if missing), e.g. the state store's `store.sqlite`: the table names do not overlap. */
  path?: string;
  /** An open database the caller owns (never closed here). */
  database?: Database.Database;
  /** @default 5000 */
  busyTimeoutMs?: number;
}

/**
 * Records as JSON documents plus the columns the CLI filters on. Every write
 * is one statement: SQLite serialises writers, so `create` and `claim` are
 * exact (INSERT ... ON CONFLICT DO NOTHING) across processes sharing the file.
 */
const DDL = `
CREATE TABLE IF NOT EXISTS recovery_records (
  recovery_id TEXT PRIMARY KEY,
  instance_id TEXT NOT NULL,
  status      TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  doc         TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS recovery_records_instance ON recovery_records (instance_id, created_at);
CREATE TABLE IF NOT EXISTS recovery_claims (
  claim_id   TEXT PRIMARY KEY,
  owner      TEXT NOT NULL,
  claimed_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS recovery_policies (
  scope TEXT PRIMARY KEY,
  doc   TEXT NOT NULL
) STRICT;
`;

/** The {@link RecoveryRecordStore} port on SQLite (embedded profile). */
export class SqliteRecoveryRecordStore implements RecoveryRecordStore {
  private readonly db: Database.Database;
  private readonly owns: boolean;
  private closed = false;

  constructor(options: SqliteRecoveryRecordStoreOptions) {
    const opened = openOrAdopt(options, (path, busy) => run('open recovery_records', () => openStoreDatabase(path, busy)));
    this.db = opened.db;
    this.owns = opened.owns;
  }

  async setup(): Promise<void> {
    this.open();
    run('setup recovery_records', () => this.db.exec(DDL));
  }

  async create(record: RecoveryRecord): Promise<boolean> {
    this.open();
    const r = run('write recovery_records', () =>
      this.db
        .prepare('INSERT INTO recovery_records (recovery_id, instance_id, status, created_at, doc) VALUES (?, ?, ?, ?, ?) ON CONFLICT (recovery_id) DO NOTHING')
        .run(record.recoveryId, record.instanceId, record.status, record.createdAt, JSON.stringify(record)),
    );
    return r.changes === 1;
  }

  async claim(recoveryId: string, generation: number, owner: string): Promise<boolean> {
    this.open();
    const r = run('write recovery_claims', () =>
      this.db.prepare('INSERT INTO recovery_claims (claim_id, owner, claimed_at) VALUES (?, ?, ?) ON CONFLICT (claim_id) DO NOTHING').run(`${recoveryId}#${generation}`, owner, Date.now()),
    );
    return r.changes === 1;
  }

  async save(record: RecoveryRecord): Promise<void> {
    this.open();
    run('write recovery_records', () =>
      this.db
        .prepare('INSERT INTO recovery_records (recovery_id, instance_id, status, created_at, doc) VALUES (?, ?, ?, ?, ?) ON CONFLICT (recovery_id) DO UPDATE SET status = excluded.status, doc = excluded.doc')
        .run(record.recoveryId, record.instanceId, record.status, record.createdAt, JSON.stringify(record)),
    );
  }

  async get(recoveryId: string): Promise<RecoveryRecord | undefined> {
    this.open();
    const row = run('read recovery_records', () => this.db.prepare('SELECT doc FROM recovery_records WHERE recovery_id = ?').get(recoveryId) as { doc: string } | undefined);
    return row && (JSON.parse(row.doc) as RecoveryRecord);
  }

  async list(filter: RecordFilter = {}): Promise<RecoveryRecord[]> {
    this.open();
    // Filtered, ordered and limited in SQL (the engine's estimates read the newest 500 of a table that only grows).
    const conditions: [string, string | number | undefined][] = [
      ['instance_id = ?', filter.instanceId],
      ['status = ?', filter.status],
      ['created_at >= ?', filter.since],
    ];
    const used = conditions.filter(([, v]) => v !== undefined);
    const where = used.map(([c]) => c);
    const args = used.map(([, v]) => v!);
    const sql = `SELECT doc FROM recovery_records${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, recovery_id LIMIT ?`;
    const rows = run('read recovery_records', () => this.db.prepare(sql).all(...args, filter.limit ?? 100) as { doc: string }[]);
    return applyFilter(
      rows.map((r) => JSON.parse(r.doc) as RecoveryRecord),
      filter,
    );
  }

  async getPolicy(scope: string): Promise<RecoveryPolicy | undefined> {
    this.open();
    const row = run('read recovery_policies', () => this.db.prepare('SELECT doc FROM recovery_policies WHERE scope = ?').get(scope) as { doc: string } | undefined);
    return row && (JSON.parse(row.doc) as RecoveryPolicy);
  }

  async putPolicy(scope: string, policy: RecoveryPolicy): Promise<void> {
    this.open();
    run('write recovery_policies', () => this.db.prepare('INSERT INTO recovery_policies (scope, doc) VALUES (?, ?) ON CONFLICT (scope) DO UPDATE SET doc = excluded.doc').run(scope, JSON.stringify(policy)));
  }

  async listPolicies(): Promise<{ scope: string; policy: RecoveryPolicy }[]> {
    this.open();
    const rows = run('read recovery_policies', () => this.db.prepare('SELECT scope, doc FROM recovery_policies ORDER BY scope').all() as { scope: string; doc: string }[]);
    return rows.map((r) => ({ scope: r.scope, policy: JSON.parse(r.doc) as RecoveryPolicy }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.owns) this.db.close();
  }

  private open(): void {
    if (this.closed) throw new ClosedError('SqliteRecoveryRecordStore');
  }
}
