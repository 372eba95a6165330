/**
 * One error base class for the whole library (STYLE.md habit 4). Every error a
 * caller may need to branch on carries a string `code` from {@link ErrorCode},
 * an optional `cause`, and a `retryable` flag.
 */
export type ErrorCode =
  /** Bad options or configuration, found at start-up. */
  | 'AS_CONFIG'
  /** Input that does not satisfy a contract (bad path, bad id, malformed value). */
  | 'AS_INVALID_INPUT'
  /** A version expectation did not hold (optimistic concurrency). */
  | 'AS_CONFLICT'
  /** A writer with a stale epoch tried to write (DESIGN.md Invariant 3). */
  | 'AS_FENCED'
  /** Stored or received bytes do not match their checksum (Invariant 6). */
  | 'AS_CHECKSUM_MISMATCH'
  /** A frame or record could not be decoded (truncated, corrupted, wrong format). */
  | 'AS_DECODE'
  /** A value is larger than the configured limit. */
  | 'AS_TOO_LARGE'
  /** The thing asked for does not exist. */
  | 'AS_NOT_FOUND'
  /** A conditional create found the object already there. */
  | 'AS_ALREADY_EXISTS'
  /** Encryption key missing, wrong, or destroyed (crypto-shredding). */
  | 'AS_KEY'
  /** A key was destroyed on purpose: the data is gone for good. */
  | 'AS_KEY_DESTROYED'
  /** Caller is not allowed to perform the operation. */
  | 'AS_FORBIDDEN'
  /** A backing server could not be reached or failed; usually worth retrying. */
  | 'AS_UNAVAILABLE'
  /** The operation was aborted by its AbortSignal or timed out. */
  | 'AS_ABORTED'
  /** A schema was refused by the registry (e.g. incompatible evolution). */
  | 'AS_SCHEMA';

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

/** Thrown when options or environment configuration are invalid; names the field. */
export class ConfigError extends AgentStateError {
  constructor(field: string, problem: string, options: AgentStateErrorOptions = {}) {
    super('AS_CONFIG', `invalid configuration: ${field}: ${problem}`, options);
  }
}

/** Thrown when a conditional create (If-None-Match: *) finds the object already present. */
export class AlreadyExistsError extends AgentStateError {
  constructor(what: string, options: AgentStateErrorOptions = {}) {
    super('AS_ALREADY_EXISTS', `${what} already exists`, options);
  }
}

/** Thrown when a backing server (Kafka, MongoDB, S3, Redis, registry) fails or cannot be reached. */
export class UnavailableError extends AgentStateError {
  constructor(what: string, options: AgentStateErrorOptions = {}) {
    super('AS_UNAVAILABLE', `${what} is unavailable`, { retryable: true, ...options });
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

/** Thrown when the agent, snapshot, object or topic asked for does not exist. */
export class NotFoundError extends AgentStateError {
  constructor(what: string, options: AgentStateErrorOptions = {}) {
    super('AS_NOT_FOUND', `${what} not found`, options);
  }
}
