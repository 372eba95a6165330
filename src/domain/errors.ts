import { AgentStateError, type AgentStateErrorOptions } from '../errors.js';

/**
 * Thrown when a changeset path is malformed (not `/a/b/0` form, bad escape,
 * array index out of range) or does not resolve in the document it is applied to.
 */
export class InvalidPathError extends AgentStateError {
  constructor(path: string, problem: string, options: AgentStateErrorOptions = {}) {
    super('AS_INVALID_INPUT', `invalid path ${JSON.stringify(path)}: ${problem}`, {
      ...options,
      details: { path, ...options.details },
    });
  }
}

/** Thrown when an input value breaks a contract (not JSON, non-finite number, unknown event type). */
export class InvalidInputError extends AgentStateError {
  constructor(what: string, problem: string, options: AgentStateErrorOptions = {}) {
    super('AS_INVALID_INPUT', `invalid ${what}: ${problem}`, options);
  }
}

/** Thrown when bytes or a state do not match the checksum they carry (DESIGN.md Invariant 6). */
export class ChecksumMismatchError extends AgentStateError {
  constructor(what: string, expected: string, actual: string, options: AgentStateErrorOptions = {}) {
    super('AS_CHECKSUM_MISMATCH', `${what}: checksum mismatch (expected ${expected}, got ${actual})`, {
      ...options,
      details: { expected, actual, ...options.details },
    });
  }
}

/** Thrown when a value or a declared length exceeds a configured limit, before anything is allocated. */
export class TooLargeError extends AgentStateError {
  constructor(what: string, size: number, limit: number, options: AgentStateErrorOptions = {}) {
    super('AS_TOO_LARGE', `${what}: ${size} bytes exceeds the limit of ${limit} bytes`, {
      ...options,
      details: { size, limit, ...options.details },
    });
  }
}
