import { AgentStateError, UnavailableError } from '../../errors.js';

/** Runs a driver call; any failure becomes {@link unavailable}. */
export async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw unavailable(what, err);
  }
}

/**
 * Every driver or server failure is reported as retryable: the projector
 * waits and retries rather than commit past unwritten data (Invariant 4).
 */
export function unavailable(what: string, err: unknown): AgentStateError {
  if (err instanceof AgentStateError) return err;
  return new UnavailableError(`MongoDB (${what})`, { cause: err });
}
