import { existsSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { cleanMessage } from '../domain/record.js';
import { openSqliteFile } from '../util/sqlite-open.js';

/** The outcome of SQLite's `PRAGMA integrity_check` on one file. */
export interface SqliteCheck {
  path: string;
  ok: boolean;
  /** `ok`, or SQLite's first problems (one per line), or why the file would not open. */
  detail: string;
}

/** Problems reported at most (SQLite stops at 100 by default; a few are enough to name the damage). */
const MAX_PROBLEMS = 10;

/**
 * Runs `PRAGMA integrity_check` on an existing database file; nothing is
 * created and no page is written (`agentstate doctor` must be safe on a
 * damaged data dir). The connection is not opened `readonly`: on a WAL file a
 * read-only connection leaves empty -wal/-shm files behind, which a normal
 * connection removes on close, as the last one out. A page SQLite cannot
 * parse makes the pragma throw (SQLITE_CORRUPT) rather than list it: that is
 * a failed check too. In a data dir this user may not write, the check runs
 * on a private copy of the file and its -wal (issue 12 §7, openSqliteFile).
 */
export function sqliteIntegrityCheck(path: string, options: { quick?: boolean } = {}): SqliteCheck {
  if (!existsSync(path)) return { path, ok: false, detail: 'missing' };
  let db: Database.Database | undefined;
  // quick_check: every page read and parsed, without the slower index-content checks (what `start` runs).
  const pragma = options.quick === true ? 'quick_check' : 'integrity_check';
  try {
    db = openSqliteFile(path, { readOnly: true });
    const rows = db.pragma(`${pragma}(${MAX_PROBLEMS})`, { simple: false }) as Record<string, string>[];
    const lines = rows.map((r) => r[pragma]!);
    const ok = lines.length === 1 && lines[0] === 'ok';
    return { path, ok, detail: ok ? 'ok' : lines.map((l) => cleanMessage(l, 200)).join('; ') };
  } catch (err) {
    return { path, ok: false, detail: cleanMessage(err) };
  } finally {
    db?.close();
  }
}
