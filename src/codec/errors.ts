import { AgentStateError, type AgentStateErrorOptions } from '../errors.js';

/** Thrown when a frame or record cannot be decoded: bad magic, unknown schema id, truncated or corrupted body. */
export class DecodeError extends AgentStateError {
  constructor(what: string, problem: string, options: AgentStateErrorOptions = {}) {
    super('AS_DECODE', `cannot decode ${what}: ${problem}`, options);
  }
}

/** Thrown when the schema registry refuses a schema (incompatible evolution, invalid schema). */
export class SchemaError extends AgentStateError {
  constructor(subject: string, problem: string, options: AgentStateErrorOptions = {}) {
    super('AS_SCHEMA', `schema for subject ${JSON.stringify(subject)} refused: ${problem}`, {
      ...options,
      details: { subject, ...options.details },
    });
  }
}

/** Thrown when a key is missing or wrong: unknown key id, authentication failure under the key. */
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

/**
 * Thrown when AES-GCM authentication fails on decrypt: the ciphertext, its
 * header or the associated data was modified (DESIGN.md Invariant 6). Never
 * returns unauthenticated plaintext.
 */
export class AuthenticationFailedError extends AgentStateError {
  constructor(what: string, options: AgentStateErrorOptions = {}) {
    super('AS_CHECKSUM_MISMATCH', `${what}: authentication failed (tampered ciphertext, header or associated data)`, options);
  }
}
