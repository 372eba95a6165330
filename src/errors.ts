/**
 * The library's one error module (STYLE.md habit 4): one base class, one
 * class per code, the codes as a runtime list too, so a CLI or an HTTP layer
 * can map every code without importing each class. `retryable` says whether
 * trying the same call again later can succeed.
 */
export const ERROR_CODES = [
  /** Bad options or configuration, found at start-up ({@link ConfigError}). */
  'AS_CONFIG',
  /** Input that does not satisfy a contract: bad path, id or value ({@link InvalidInputError}, {@link InvalidPathError}). */
  'AS_INVALID_INPUT',
  /** A version expectation did not hold, or a concurrent writer won ({@link ConflictError}). */
  'AS_CONFLICT',
  /** A writer whose epoch was superseded tried to write: DESIGN.md Invariant 3 ({@link FencedError}). */
  'AS_FENCED',
  /** Stored or received bytes do not match their checksum: Invariant 6 ({@link ChecksumMismatchError}). */
  'AS_CHECKSUM_MISMATCH',
  /** AES-GCM authentication failed: tampered ciphertext, header or associated data ({@link AuthenticationFailedError}). */
  'AS_AUTHENTICATION_FAILED',
  /** A frame or record could not be decoded: truncated, corrupted, wrong format ({@link DecodeError}). */
  'AS_DECODE',
  /** A value is larger than a limit; never retryable with the same value ({@link TooLargeError}). */
  'AS_TOO_LARGE',
  /** The thing asked for does not exist ({@link NotFoundError}). */
  'AS_NOT_FOUND',
  /** A conditional create found the object already there ({@link AlreadyExistsError}). */
  'AS_ALREADY_EXISTS',
  /** An encryption key is missing or wrong ({@link KeyError}). */
  'AS_KEY',
  /** A data key was destroyed on purpose (crypto-shredding): the data is gone for good ({@link KeyDestroyedError}). */
  'AS_KEY_DESTROYED',
  /** A backing server could not be reached or failed; usually worth retrying ({@link UnavailableError}). */
  'AS_UNAVAILABLE',
  /** The operation was aborted by its AbortSignal or did not finish in its time ({@link AbortedError}). */
  'AS_ABORTED',
  /** The object was used after `close()`; never retryable ({@link ClosedError}). */
  'AS_CLOSED',
  /** The schema registry refused a schema, e.g. an incompatible evolution ({@link SchemaError}). */
  'AS_SCHEMA',
  /** The store projects another log than the one configured, or a log behind it (issue 12 §3, {@link LogMismatchError}). */
  'AS_LOG_MISMATCH',
] as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface AgentStateErrorOptions {
  cause?: unknown;
  retryable?: boolean;
  details?: Record<string, unknown>;
}

/** Base of every error the library throws on purpose. */
export class AgentStateError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: AgentStateErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }
}

/** Thrown when options or environment configuration are invalid; names the field or variable. */
export class ConfigError extends AgentStateError {
  constructor(field: string, problem: string, options: AgentStateErrorOptions = {}) {
    super('AS_CONFIG', `invalid configuration: ${field}: ${problem}`, options);
  }
}

/** Thrown when an input value breaks a contract (not JSON, non-finite number, bad id, unknown event type). */
export class InvalidInputError extends AgentStateError {
  constructor(what: string, problem: string, options: AgentStateErrorOptions = {}) {
    super('AS_INVALID_INPUT', `invalid ${what}: ${problem}`, options);
  }
}

/**
 * Thrown when a changeset path is malformed (not `/a/b/0` form, bad escape,
 * array index out of range) or does not resolve in the document it is applied to.
 */
export class InvalidPathError extends AgentStateError {
  constructor(path: string, problem: string, options: AgentStateErrorOptions = {}) {
    super('AS_INVALID_INPUT', `invalid path ${JSON.stringify(path)}: ${problem}`, { ...options, details: { path, ...options.details } });
  }
}

/** Thrown when an expected version does not match the head (optimistic concurrency), or a group reset finds active members. */
export class ConflictError extends AgentStateError {
  constructor(message: string, options: AgentStateErrorOptions = {}) {
    super('AS_CONFLICT', message, options);
  }
}

/** Thrown to a writer whose ownership of an agent was taken by a higher writerEpoch (DESIGN.md Invariant 3). */
export class FencedError extends AgentStateError {
  constructor(message: string, options: AgentStateErrorOptions = {}) {
    super('AS_FENCED', message, options);
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

/**
 * Thrown when AES-GCM authentication fails on decrypt: the ciphertext, its
 * header or the associated data was modified, or the key is not the one it was
 * sealed under (DESIGN.md Invariant 6). Never returns unauthenticated plaintext.
 */
export class AuthenticationFailedError extends AgentStateError {
  constructor(what: string, options: AgentStateErrorOptions = {}) {
    super('AS_AUTHENTICATION_FAILED', `${what}: authentication failed (tampered ciphertext, header or associated data)`, options);
  }
}

/** Thrown when a frame or record cannot be decoded: bad magic, unknown schema id, truncated or corrupted body. */
export class DecodeError extends AgentStateError {
  constructor(what: string, problem: string, options: AgentStateErrorOptions = {}) {
    super('AS_DECODE', `cannot decode ${what}: ${problem}`, options);
  }
}

/** Thrown when a value or a declared length exceeds a limit, before anything is allocated or sent. */
export class TooLargeError extends AgentStateError {
  /** @param limit undefined when the limit is a server's (a broker's `message.max.bytes`) and not known here */
  constructor(what: string, size: number, limit: number | undefined, options: AgentStateErrorOptions = {}) {
    const over = limit === undefined ? "exceeds the server's limit" : `exceeds the limit of ${limit} bytes`;
    super('AS_TOO_LARGE', `${what}: ${size} bytes ${over}`, { ...options, retryable: false, details: { size, limit, ...options.details } });
  }
}

/** Thrown when the agent, snapshot, object or topic asked for does not exist. */
export class NotFoundError extends AgentStateError {
  constructor(what: string, options: AgentStateErrorOptions = {}) {
    super('AS_NOT_FOUND', `${what} not found`, options);
  }
}

/** Thrown when a conditional create (If-None-Match: *) finds the object already present. */
export class AlreadyExistsError extends AgentStateError {
  constructor(what: string, options: AgentStateErrorOptions = {}) {
    super('AS_ALREADY_EXISTS', `${what} already exists`, options);
  }
}

/** Thrown when a key is missing or wrong: unknown key id, wrong master material. */
export class KeyError extends AgentStateError {
  constructor(problem: string, options: AgentStateErrorOptions = {}) {
    super('AS_KEY', problem, options);
  }
}

/**
 * Thrown when an agent's data key was destroyed on purpose (crypto-shredding,
 * DESIGN.md Security): the data is gone for good, retrying cannot help.
 */
export class KeyDestroyedError extends AgentStateError {
  constructor(instanceId: string, options: AgentStateErrorOptions = {}) {
    super('AS_KEY_DESTROYED', `data key of agent ${JSON.stringify(instanceId)} was destroyed (crypto-shredded)`, {
      ...options,
      details: { instanceId, ...options.details },
    });
  }
}

/** Thrown when a backing server (Kafka, MongoDB, S3, Redis, registry) fails or cannot be reached. Retryable by default. */
export class UnavailableError extends AgentStateError {
  constructor(what: string, options: AgentStateErrorOptions = {}) {
    super('AS_UNAVAILABLE', `${what} is unavailable`, { retryable: true, ...options });
  }
}

/** Thrown when an operation is aborted by its AbortSignal or does not finish within its time limit. */
export class AbortedError extends AgentStateError {
  constructor(message: string, options: AgentStateErrorOptions = {}) {
    super('AS_ABORTED', message, options);
  }
}

/** Thrown when a client, store or log is used after `close()`. Never retryable: open a new one. */
export class ClosedError extends AgentStateError {
  constructor(what: string, options: AgentStateErrorOptions = {}) {
    super('AS_CLOSED', `${what} is closed`, { ...options, retryable: false });
  }
}

/** Thrown when the schema registry refuses a schema (incompatible evolution, invalid schema). */
export class SchemaError extends AgentStateError {
  constructor(subject: string, problem: string, options: AgentStateErrorOptions = {}) {
    super('AS_SCHEMA', `schema for subject ${JSON.stringify(subject)} refused: ${problem}`, { ...options, details: { subject, ...options.details } });
  }
}

/**
 * Thrown at start by the projector (and reported by `agentstate doctor`) when
 * the state store was projected from another log, or holds states from
 * positions the log does not have (an emptied or replaced log): continuing
 * would silently diverge from the log. Never retryable: someone must choose
 * (`--rebuild`, or point at the right log).
 */
export class LogMismatchError extends AgentStateError {
  constructor(message: string, options: AgentStateErrorOptions = {}) {
    super('AS_LOG_MISMATCH', message, { ...options, retryable: false });
  }
}
