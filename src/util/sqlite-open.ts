import { accessSync, chmodSync, constants, copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { AgentStateError } from '../errors.js';
import { createPrivateFile, PRIVATE_FILE_MODE } from './private-files.js';

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** What a copy depends on: a writer (the data dir's owner) checkpointing between the two copies changes it. */
function fingerprint(path: string): string {
  return [path, `${path}-wal`].map((p) => (existsSync(p) ? `${statSync(p).size}:${statSync(p).mtimeMs}:${statSync(p).ino}` : '-')).join('/');
}

/**
 * Copies the file and its -wal as one: a writer may checkpoint (and restart
 * the -wal) between the two copies, leaving a pair that misses commits, so
 * the copy is taken again until neither file changed while it was taken.
 */
function copyConsistent(path: string, copy: string): void {
  for (let attempt = 1; ; attempt++) {
    const before = fingerprint(path);
    rmSync(`${copy}-wal`, { force: true });
    copyFileSync(path, copy);
    if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${copy}-wal`);
    if (fingerprint(path) === before) break;
    if (attempt === 5) throw new AgentStateError('AS_UNAVAILABLE', `${path} kept changing while it was copied to be read (the data dir is read-only to this user)`, { retryable: true });
  }
  // The copies keep the source's mode (0400 in a read-only dir); SQLite must write the copy's -shm.
  chmodSync(copy, PRIVATE_FILE_MODE);
  if (existsSync(`${copy}-wal`)) chmodSync(`${copy}-wal`, PRIVATE_FILE_MODE);
}

/**
 * Opens an embedded database file: the one place the log and the store open
 * theirs. A writer creates the file 0600 and opens it in place.
 *
 * `readOnly` (the CLI's read-only commands: status, inspect, history, list,
 * doctor) on a data dir this process may not write (issue 12 §7): SQLite in
 * WAL mode must create `-shm` (and `-wal`) beside the file even to read, so
 * opening in place fails with "attempt to write a readonly database". The
 * file and its `-wal` (the commits not yet checkpointed) are copied into a
 * private temp dir and the copy is opened; closing the database removes the
 * copy. Nothing is ever written into the data dir. The `immutable=1` URI is
 * not an option: it ignores the `-wal`, whose commits would be missed.
 */
export function openSqliteFile(path: string, options: { readOnly?: boolean } = {}): Database.Database {
  if (options.readOnly !== true || path === ':memory:' || !existsSync(path) || (writable(dirname(path)) && writable(path))) {
    createPrivateFile(path);
    return new Database(path);
  }
  const dir = mkdtempSync(join(tmpdir(), 'agentstate-ro-'));
  try {
    const copy = join(dir, basename(path));
    copyConsistent(path, copy);
    const db = new Database(copy);
    const close = db.close.bind(db);
    db.close = () => {
      try {
        return close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    return db;
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
