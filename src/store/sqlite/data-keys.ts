import type Database from 'better-sqlite3';
import { checkDataKey, type DataKeyStore, type WrappedDataKey } from '../data-keys.js';
import { ClosedError, ConfigError } from '../../errors.js';
import { run } from './errors.js';
import { StatementCache } from './statements.js';
import { openOrAdopt, openStoreDatabase } from './schema.js';

export interface SqliteDataKeyStoreOptions {
  /**
   * Database file (created if missing), or `':memory:'` for a throwaway
   * store. It may be the state store's (or event log's) file: the table
   * names do not overlap. Required unless `database` is given.
   */
  path?: string;
  /**
   * An open better-sqlite3 database the caller owns: never closed here, and
   * its pragmas are left as the caller chose (`path` opens with WAL,
   * synchronous=FULL and secure_delete, see {@link SqliteDataKeyStore}).
   */
  database?: Database.Database;
  /** How long a write waits for another connection's write lock (SQLite busy_timeout). Only with `path`. @default 5000 */
  busyTimeoutMs?: number;
  /**
   * The caller only reads keys (`backup verify` of an encrypted backup): the
   * file is opened read-only, as the state store's `readOnly` (a data dir this
   * process may not write is read from a private copy, issue 12 §7), and
   * `setup()` is not to be called. Only with `path`.
   * @default false
   */
  readOnly?: boolean;
}

/** Bumped when `data_keys` changes; a file written by a newer version is refused. */
export const DATA_KEYS_SCHEMA_VERSION = 1;

/**
 * `store_meta` is the state store's version table (schema.ts); the same
 * definition, so either store may create it first. The data keys keep their
 * own version row in it, so the two schemas evolve apart.
 */
const DDL = `
CREATE TABLE IF NOT EXISTS store_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS data_keys (
  key_id        TEXT PRIMARY KEY,
  instance_id   TEXT NOT NULL,
  version       INTEGER NOT NULL,
  master_key_id TEXT NOT NULL,
  wrapped       BLOB,
  created_at    INTEGER NOT NULL,
  destroyed_at  INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS data_keys_instance_version ON data_keys (instance_id, version);
`;
const VERSION_KEY = 'data_keys_schema_version';

const COLUMNS = 'key_id, instance_id, version, master_key_id, wrapped, created_at, destroyed_at';
const INSERT = `INSERT INTO data_keys (${COLUMNS}) VALUES (@key_id, @instance_id, @version, @master_key_id, @wrapped, @created_at, @destroyed_at) ON CONFLICT (key_id) DO NOTHING`;
const GET = `SELECT ${COLUMNS} FROM data_keys WHERE key_id = ?`;
const LIST_FOR_INSTANCE = `SELECT ${COLUMNS} FROM data_keys WHERE instance_id = ? ORDER BY version, key_id`;
const LIST_ALL = `SELECT ${COLUMNS} FROM data_keys ORDER BY instance_id, version, key_id`;
/** The compare-and-set of the port: only a live key still under `from` is replaced. */
const REWRAP = 'UPDATE data_keys SET master_key_id = ?, wrapped = ? WHERE key_id = ? AND master_key_id = ? AND wrapped IS NOT NULL';
const DESTROY = 'UPDATE data_keys SET wrapped = NULL, destroyed_at = ? WHERE key_id = ? AND wrapped IS NOT NULL';

interface DataKeyRow {
  key_id: string;
  instance_id: string;
  version: number;
  master_key_id: string;
  wrapped: Buffer | null;
  created_at: number;
  destroyed_at: number | null;
}

/**
 * The {@link DataKeyStore} port on a SQLite file (embedded profile), so
 * encrypted data can be decrypted after a restart. Same semantics as the
 * MongoDB adapter; `rewrap` and `destroy` are single conditional UPDATEs,
 * `create` an insert-if-absent and a read in one write transaction.
 *
 * A file opened from `path` gets the state store's discipline (WAL,
 * synchronous=FULL: a created key is on disk before `create` resolves, so no
 * ciphertext can outlive its key) plus `secure_delete`, and `destroy`
 * checkpoints the WAL: crypto-shredding overwrites the wrapped key's bytes
 * in the file instead of leaving them in a free page or an old WAL frame.
 */
export class SqliteDataKeyStore implements DataKeyStore {
  private readonly db: Database.Database;
  private readonly ownsDatabase: boolean;
  private readonly where: string;
  private readonly busyTimeoutMs: number;
  private readonly statements: StatementCache;
  private closed = false;

  /** Opens (or adopts) the database. Call `setup()` once to create the table. */
  constructor(options: SqliteDataKeyStoreOptions) {
    // secure_delete: a shredded key's bytes are overwritten, not left in free pages.
    const opened = openOrAdopt(options, (path, busy, readOnly) => run('open data_keys', () => openStoreDatabase(path, busy, readOnly ? [] : ['secure_delete = ON'], readOnly)));
    this.db = opened.db;
    this.ownsDatabase = opened.owns;
    this.where = opened.where;
    this.busyTimeoutMs = opened.busyTimeoutMs;
    // Integers as numbers: versions and times here are far below 2^53.
    this.statements = new StatementCache(this.db, false, 'prepare data_keys');
  }

  /** Creates the table and index; idempotent, and safe to run from two processes at once. */
  async setup(): Promise<void> {
    this.open();
    run('setup data_keys', () =>
      this.db
        .transaction(() => {
          this.db.exec(DDL);
          const row = this.db.prepare('SELECT value FROM store_meta WHERE key = ?').get(VERSION_KEY) as { value: string } | undefined;
          const found = row === undefined ? 0 : Number(row.value);
          if (found > DATA_KEYS_SCHEMA_VERSION) {
            throw new ConfigError('path', `${this.where} has data_keys schema version ${found}; this build knows ${DATA_KEYS_SCHEMA_VERSION}`);
          }
          if (found < DATA_KEYS_SCHEMA_VERSION) this.db.prepare('INSERT OR REPLACE INTO store_meta (key, value) VALUES (?, ?)').run(VERSION_KEY, String(DATA_KEYS_SCHEMA_VERSION));
        })
        .immediate(),
    );
  }

  async get(keyId: string): Promise<WrappedDataKey | undefined> {
    this.open();
    const row = run('read data_keys', () => this.stmt(GET).get(keyId) as DataKeyRow | undefined);
    return row === undefined ? undefined : fromRow(row);
  }

  async listForInstance(instanceId: string): Promise<WrappedDataKey[]> {
    this.open();
    return run('list data_keys', () => this.stmt(LIST_FOR_INSTANCE).all(instanceId) as DataKeyRow[]).map(fromRow);
  }

  async listAll(): Promise<WrappedDataKey[]> {
    this.open();
    return run('list data_keys', () => this.stmt(LIST_ALL).all() as DataKeyRow[]).map(fromRow);
  }

  async create(key: WrappedDataKey): Promise<WrappedDataKey> {
    this.open();
    checkDataKey(key);
    const params = {
      key_id: key.keyId,
      instance_id: key.instanceId,
      version: key.version,
      master_key_id: key.masterKeyId,
      wrapped: key.wrapped,
      created_at: key.createdAt,
      destroyed_at: key.destroyedAt,
    };
    const insert = this.stmt(INSERT);
    const get = this.stmt(GET);
    const row = run('write data_keys', () =>
      this.db
        .transaction(() => {
          insert.run(params);
          return get.get(key.keyId) as DataKeyRow;
        })
        .immediate(),
    );
    return fromRow(row);
  }

  async rewrap(keyId: string, fromMasterKeyId: string, toMasterKeyId: string, wrapped: Buffer): Promise<boolean> {
    this.open();
    return run('rewrap data_keys', () => this.stmt(REWRAP).run(toMasterKeyId, wrapped, keyId, fromMasterKeyId).changes) === 1;
  }

  async destroy(keyId: string, at: number): Promise<boolean> {
    this.open();
    const destroyed = run('destroy data_keys', () => this.stmt(DESTROY).run(at, keyId).changes) === 1;
    if (destroyed && this.ownsDatabase) {
      // Move the zeroed page into the main file and empty the WAL, whose
      // older frames still hold the wrapped key. Best effort and without
      // waiting (busy_timeout 0: better-sqlite3 would block the event loop):
      // a reader or writer on the shared file can hold it back, and a later
      // checkpoint overwrites the frames.
      try {
        this.db.pragma('busy_timeout = 0');
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        // The shred itself is committed; only the clean-up is postponed.
      } finally {
        this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
      }
    }
    return destroyed;
  }

  /** Closes the file if this store opened it. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.statements.clear();
    if (this.ownsDatabase) this.db.close();
  }

  private open(): void {
    if (this.closed) throw new ClosedError('the SQLite data-key store');
  }

  private stmt(sql: string): Database.Statement {
    return this.statements.get(sql);
  }
}

function fromRow(r: DataKeyRow): WrappedDataKey {
  return {
    keyId: r.key_id,
    instanceId: r.instance_id,
    version: r.version,
    masterKeyId: r.master_key_id,
    wrapped: r.wrapped,
    createdAt: r.created_at,
    destroyedAt: r.destroyed_at,
  };
}
