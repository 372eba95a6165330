import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';

/**
 * Agents' memory is private: the embedded profile's data dirs are created
 * 0700 and its databases and blobs 0600 (issue 12 §7), whatever the umask
 * lets through for other files.
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** `mkdir -p` with every directory it creates 0700 (an existing one is left as it is). */
export function makePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/**
 * Creates an empty database file 0600 before SQLite opens it (an empty file
 * is an empty database); SQLite gives its -wal and -shm files the mode of
 * the database file, so they are private too. ':memory:' and existing files
 * are left alone.
 */
export function createPrivateFile(path: string): void {
  if (path === ':memory:' || path === '' || existsSync(path)) return;
  try {
    closeSync(openSync(path, 'wx', PRIVATE_FILE_MODE));
  } catch (e) {
    // Another process created it first: theirs is as good as ours.
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}
