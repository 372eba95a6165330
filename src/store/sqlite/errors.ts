import { AgentStateError, InvalidInputError, UnavailableError } from '../../errors.js';

/**
 * SQLite result codes worth retrying: another process holds the write lock
 * past `busy_timeout`, the disk is full or failing, the file is not there
 * yet. The projector retries these rather than commit past unwritten data
 * (DESIGN.md Invariant 4).
 */
const TRANSIENT = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|NOMEM|PROTOCOL|INTERRUPT)/;

/** A value the table refused (wrong type, NULL where one is required): the caller's input is bad. */
const INVALID = /^SQLITE_(CONSTRAINT|MISMATCH|RANGE|TOOBIG)/;

/**
 * Maps what better-sqlite3 throws onto the library's errors: transient
 * failures are retryable `UnavailableError`s, refused values and unbindable
 * parameters (a boolean, undefined) are `AS_INVALID_INPUT`, and anything else
 * (a corrupt or read-only file, a missing table) is a non-retryable
 * `UnavailableError` naming the cause.
 */
export function storeError(what: string, err: unknown): AgentStateError {
  if (err instanceof AgentStateError) return err;
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : '';
  const message = err instanceof Error ? err.message : String(err);
  if (TRANSIENT.test(code)) return new UnavailableError(`SQLite state store (${what}: ${code})`, { cause: err });
  if (INVALID.test(code) || err instanceof TypeError || err instanceof RangeError) {
    return new InvalidInputError(`SQLite state store request (${what})`, message, { cause: err });
  }
  const hint = /no such table/.test(message) ? ' (was setup() called?)' : '';
  return new UnavailableError(`SQLite state store (${what}: ${message}${hint})`, { cause: err, retryable: false });
}

/** Runs a synchronous database call, mapping its failure with {@link storeError}. */
export function run<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw storeError(what, err);
  }
}
