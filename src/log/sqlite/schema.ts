import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { ConfigError } from '../../errors.js';
import { openSqliteFile } from '../../util/sqlite-open.js';

/** Bumped when the tables below change; a file written by a newer version is refused. */
export const SCHEMA_VERSION = 1;

/**
 * Column names avoid `offset` and `partition`, which are SQL keywords
 * (LIMIT .. OFFSET, window PARTITION BY).
 *
 * - `partitions.next_offset` is the end offset, kept apart from the records so
 *   compaction can delete the newest rows of a partition without an offset
 *   ever being handed out twice.
 * - `partitions.start_offset` is Kafka's log start offset: compaction leaves it
 *   alone (as Kafka's cleaner does); only retention moves it.
 * - `records.appended_at` is the log append time, used to age tombstones; the
 *   record `timestamp` is the producer's (Kafka CreateTime) and may be anything.
 * - `group_members` holds one heartbeat row per running consumer, so another
 *   process opening the same file sees a live group (see members.ts), with
 *   the session timeout that consumer asked for (NULL: the reader's default).
 */
const DDL = `
CREATE TABLE IF NOT EXISTS log_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS topics (
  id           INTEGER PRIMARY KEY,
  name         TEXT NOT NULL UNIQUE,
  partitions   INTEGER NOT NULL,
  compacted    INTEGER NOT NULL,
  retention_ms INTEGER NOT NULL,
  created_at   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS partitions (
  topic_id     INTEGER NOT NULL,
  part         INTEGER NOT NULL,
  start_offset INTEGER NOT NULL,
  next_offset  INTEGER NOT NULL,
  PRIMARY KEY (topic_id, part)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
  topic_id    INTEGER NOT NULL,
  part        INTEGER NOT NULL,
  off         INTEGER NOT NULL,
  key         TEXT NOT NULL,
  value       BLOB,
  headers     TEXT,
  timestamp   INTEGER NOT NULL,
  appended_at INTEGER NOT NULL,
  PRIMARY KEY (topic_id, part, off)
);
CREATE TABLE IF NOT EXISTS group_offsets (
  group_name   TEXT NOT NULL,
  topic_id     INTEGER NOT NULL,
  part         INTEGER NOT NULL,
  next_offset  INTEGER NOT NULL,
  committed_at INTEGER NOT NULL,
  PRIMARY KEY (group_name, topic_id, part)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_members (
  group_name   TEXT NOT NULL,
  member_id    TEXT NOT NULL,
  pid          INTEGER NOT NULL,
  host         TEXT NOT NULL,
  topics       TEXT NOT NULL,
  heartbeat_at INTEGER NOT NULL,
  session_timeout_ms INTEGER,
  PRIMARY KEY (group_name, member_id)
) WITHOUT ROWID;
`;

export interface OpenOptions {
  path: string;
  busyTimeoutMs: number;
  /** Only reads: a file in a data dir this process may not write is read from a private copy (see openSqliteFile). */
  readOnly?: boolean;
}

/**
 * Opens (creating if needed) a log database.
 *
 * WAL lets readers (a CLI `status` in another process) run beside the writer;
 * `synchronous=FULL` fsyncs the WAL on every commit, so an append that
 * returned survives a power loss or SIGKILL (DESIGN.md Invariant 4: nothing
 * reported written is lost). NORMAL would only survive a process crash.
 */
export function openLogDatabase(options: OpenOptions): Database.Database {
  const db = openSqliteFile(options.path, { readOnly: options.readOnly === true });
  try {
    if (options.path !== ':memory:') db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs)}`);
    // Offsets are 64-bit: every INTEGER comes back as bigint, converted explicitly.
    db.defaultSafeIntegers(true);
    const version = Number(db.pragma('user_version', { simple: true }));
    if (version > SCHEMA_VERSION) {
      throw new ConfigError('path', `${options.path} has log schema version ${version}; this build knows ${SCHEMA_VERSION}`);
    }
    db.transaction(() => {
      db.exec(DDL);
      // Added within schema 1 (a nullable column older builds never name): a file created before it gains it here.
      const columns = db.prepare<[], { name: string }>('PRAGMA table_info(group_members)').all();
      if (!columns.some((c) => c.name === 'session_timeout_ms')) db.exec('ALTER TABLE group_members ADD COLUMN session_timeout_ms INTEGER');
      // The log's identity (issue 12 §3), written once: a file emptied or replaced is another log.
      db.prepare(`INSERT OR IGNORE INTO log_meta (key, value) VALUES ('log_id', ?)`).run(randomUUID());
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
