import type Database from 'better-sqlite3';
import { ConfigError } from '../../errors.js';
import { openSqliteFile } from '../../util/sqlite-open.js';

/** Bumped when the tables below change; a file written by a newer version is refused. */
export const STORE_SCHEMA_VERSION = 2;

/**
 * The store's tables, named as the MongoDB collections are. They may share a
 * file with the SQLite event log (whose tables are `topics`, `partitions`,
 * `records`, `group_*`), so the schema version lives in `store_meta`, not in
 * `PRAGMA user_version`, which the log already uses.
 *
 * - STRICT tables: a non-integer version or a boolean where a number belongs
 *   is refused by SQLite instead of being stored as something else.
 * - `off` and `part` hold the log position (`offset` and `partition` are SQL
 *   keywords). `off` is a 64-bit INTEGER, read back as bigint (STYLE.md habit 6).
 * - `agent_states` has one row per agent, keyed by `instance_id`; the version
 *   guard is the `WHERE` of the upsert (see queries.ts). `fields` holds the
 *   seed's sections as JSON text (src/store/state-fields.ts), queried with
 *   JSON1 (`json_each(fields, '$.capabilities')`, `fields ->> '$.performance.errorRate'`);
 *   JSON text keeps any key and string exactly, so nothing needs escaping.
 *   `status` and `agent_type` are columns too, for their indexes.
 * - Schema 2 (the seed's queryable fields) is a clean break from 1: a file
 *   with schema 1 is refused with what to do (no deployment had one).
 * - `state_events` keeps a rowid (bodies can be large, which WITHOUT ROWID
 *   tables handle badly) and a UNIQUE (instance_id, version) index, which is
 *   both the idempotency key and the index for version ranges.
 * - The expiry index is partial: it holds exactly the rows retention may
 *   delete, in the order `expiredSnapshots` returns them.
 */
const META_DDL = `
CREATE TABLE IF NOT EXISTS store_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
`;

const DDL = `
CREATE TABLE IF NOT EXISTS agent_states (
  instance_id     TEXT PRIMARY KEY,
  version         INTEGER NOT NULL,
  epoch           INTEGER NOT NULL,
  checksum        TEXT NOT NULL,
  agent_type      TEXT,
  status          TEXT,
  fields          TEXT NOT NULL,
  modified_by     TEXT,
  algorithm       TEXT NOT NULL,
  original_size   INTEGER NOT NULL,
  stored_size     INTEGER NOT NULL,
  body            BLOB,
  blob_key        TEXT,
  part            INTEGER NOT NULL,
  off             INTEGER NOT NULL,
  last_event_id   TEXT NOT NULL,
  last_event_type TEXT NOT NULL,
  updated_at      INTEGER NOT NULL,
  created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS agent_states_status ON agent_states (status);
CREATE INDEX IF NOT EXISTS agent_states_agent_type ON agent_states (agent_type);
CREATE INDEX IF NOT EXISTS agent_states_updated_at ON agent_states (updated_at);

CREATE TABLE IF NOT EXISTS state_events (
  instance_id    TEXT NOT NULL,
  version        INTEGER NOT NULL,
  epoch          INTEGER NOT NULL,
  event_id       TEXT NOT NULL,
  event_type     TEXT NOT NULL,
  timestamp      INTEGER NOT NULL,
  state_checksum TEXT NOT NULL,
  part           INTEGER NOT NULL,
  off            INTEGER NOT NULL,
  body           BLOB NOT NULL,
  UNIQUE (instance_id, version)
) STRICT;
CREATE INDEX IF NOT EXISTS state_events_instance_time ON state_events (instance_id, timestamp);
CREATE INDEX IF NOT EXISTS state_events_instance_type ON state_events (instance_id, event_type, version);
CREATE INDEX IF NOT EXISTS state_events_event_id ON state_events (event_id);

CREATE TABLE IF NOT EXISTS state_snapshots (
  snapshot_id      TEXT PRIMARY KEY,
  instance_id      TEXT NOT NULL,
  version          INTEGER NOT NULL,
  epoch            INTEGER NOT NULL,
  type             TEXT NOT NULL,
  base_snapshot_id TEXT,
  state_checksum   TEXT NOT NULL,
  body_checksum    TEXT NOT NULL,
  blob_key         TEXT NOT NULL,
  algorithm        TEXT NOT NULL,
  original_size    INTEGER NOT NULL,
  stored_size      INTEGER NOT NULL,
  trigger_reason   TEXT NOT NULL,
  creation_ms      INTEGER NOT NULL,
  created_by       TEXT NOT NULL,
  state_timestamp  INTEGER NOT NULL,
  created_at       INTEGER NOT NULL,
  expires_at       INTEGER,
  permanent        INTEGER NOT NULL,
  critical         INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS state_snapshots_instance_version ON state_snapshots (instance_id, version, snapshot_id);
CREATE INDEX IF NOT EXISTS state_snapshots_instance_time ON state_snapshots (instance_id, state_timestamp);
CREATE INDEX IF NOT EXISTS state_snapshots_expiry ON state_snapshots (expires_at, snapshot_id)
  WHERE expires_at IS NOT NULL AND permanent = 0 AND critical = 0;
`;

/**
 * Opens (creating if needed) a store database file.
 *
 * WAL lets readers (a CLI `status` in another process) run beside the
 * projector; `synchronous=FULL` fsyncs the WAL on every commit, so a
 * `writeBatch` that resolved survives a power loss, not only a process crash
 * (DESIGN.md Invariant 4: offsets are committed only after the sinks hold).
 */
export function openStoreDatabase(path: string, busyTimeoutMs: number, pragmas: string[] = [], readOnly = false): Database.Database {
  const db = openSqliteFile(path, { readOnly });
  try {
    for (const p of pragmas) db.pragma(p);
    // ':memory:' has no WAL (the pragma answers 'memory'); nothing to keep anyway.
    if (path !== ':memory:') db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Creates the tables and indexes (idempotent) under one write lock, and
 * refuses a file whose store schema is newer than this build's.
 */
export function createStoreSchema(db: Database.Database, where: string): void {
  db.transaction(() => {
    // Version first: a newer build's tables are left exactly as they are.
    db.exec(META_DDL);
    const row = db.prepare(`SELECT value FROM store_meta WHERE key = 'schema_version'`).get() as { value: string } | undefined;
    const found = row === undefined ? 0 : Number(row.value);
    if (found > STORE_SCHEMA_VERSION) {
      throw new ConfigError('path', `${where} has store schema version ${found}; this build knows ${STORE_SCHEMA_VERSION}`);
    }
    if (found === 1) {
      throw new ConfigError(
        'path',
        `${where} has store schema version 1; this build needs ${STORE_SCHEMA_VERSION} (queryable state fields). ` +
          'The store is derived: drop its tables (agent_states, state_events, state_snapshots, store_meta) and replay the projector from the earliest offset',
      );
    }
    db.exec(DDL);
    if (found < STORE_SCHEMA_VERSION) {
      db.prepare(`INSERT OR REPLACE INTO store_meta (key, value) VALUES ('schema_version', ?)`).run(String(STORE_SCHEMA_VERSION));
    }
  }).immediate();
}

/** A database a store works on: one it opened from `path` (it owns it), or one the caller passed in. */
export interface StoreDatabase {
  db: Database.Database;
  owns: boolean;
  /** The file (or ':memory:') for messages. */
  where: string;
}

/**
 * Validates a store's `path` / `database` / `busyTimeoutMs` options and opens
 * (or adopts) its database, with `pragmas` on a file it opens.
 * @throws ConfigError naming the bad option
 */
export function openOrAdopt(
  options: { path?: string; database?: Database.Database; busyTimeoutMs?: number; readOnly?: boolean },
  open: (path: string, busyTimeoutMs: number, readOnly: boolean) => Database.Database,
): StoreDatabase & { busyTimeoutMs: number } {
  if (options === null || typeof options !== 'object') throw new ConfigError('options', 'an object with path or database is required');
  const busy = options.busyTimeoutMs ?? 5000;
  if (!Number.isSafeInteger(busy) || busy < 0) throw new ConfigError('busyTimeoutMs', 'must be an integer >= 0 (milliseconds)');
  if (options.database !== undefined) {
    if (options.path !== undefined) throw new ConfigError('path', 'give either path or database, not both');
    if (!options.database.open) throw new ConfigError('database', 'the database is not open');
    return { db: options.database, owns: false, where: options.database.name, busyTimeoutMs: busy };
  }
  if (typeof options.path !== 'string' || options.path === '') throw new ConfigError('path', 'a file path or ":memory:" is required');
  return { db: open(options.path, busy, options.readOnly === true), owns: true, where: options.path, busyTimeoutMs: busy };
}
