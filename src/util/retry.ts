import type { Logger } from 'pino';
import { AgentStateError } from '../errors.js';

export interface RetryOptions {
  /** Give up (rethrow the last error) after this long. */
  windowMs: number;
  /** First delay; doubles up to `maxDelayMs`. @default 100 */
  initialDelayMs?: number;
  /** @default 2000 */
  maxDelayMs?: number;
  signal?: AbortSignal;
  logger?: Logger;
  what: string;
}

/**
 * Runs `fn` until it succeeds, waiting with capped exponential backoff between
 * attempts. Used around sink writes: the projector waits for MongoDB, Redis,
 * S3 or Kafka to come back rather than commit past unwritten data (DESIGN.md
 * Invariant 4). Non-retryable AgentStateErrors are rethrown at once; an abort
 * rethrows the last error.
 */
export async function retrying<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const deadline = Date.now() + options.windowMs;
  let delay = options.initialDelayMs ?? 100;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof AgentStateError && !err.retryable) throw err;
      if (Date.now() + delay > deadline || options.signal?.aborted) throw err;
      options.logger?.warn({ err, attempt, delayMs: delay }, `${options.what} failed; retrying`);
      await sleep(delay, options.signal);
      delay = Math.min(delay * 2, options.maxDelayMs ?? 2000);
    }
  }
}

export interface RestartOptions {
  signal: AbortSignal;
  /** Pause before the next session after a failed one; it doubles while sessions keep failing, up to {@link maxRestartDelayMs}. */
  restartDelayMs: number;
  /** Names the service in the log line: `<what> failed; restarting`. */
  what: string;
  logger?: Logger | undefined;
  /** Called for each failed session (a restart counter). */
  onRestart?: () => void;
}

/** The longest pause between restarts: 16 times the first, and never past 30 s. */
function maxRestartDelayMs(restartDelayMs: number): number {
  return Math.max(restartDelayMs, Math.min(restartDelayMs * 16, 30_000));
}

/**
 * The line of a restart that will happen (issue 12 §1: long-running services
 * retry with backoff and log each retry at `warn` with the reason; `error` is
 * for giving up): the reason on one line, the attempt and the pause.
 */
function logRestart(logger: Logger | undefined, message: string, err: unknown, attempt: number, delayMs: number): void {
  const reason = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
  logger?.warn({ err, reason, attempt, delayMs }, message);
}

/**
 * Runs `session` (a consumer from start to end) again and again until
 * `signal` aborts: a session that fails is logged at `warn` with its reason
 * and counted, and the next one starts after a pause that doubles while
 * sessions keep failing (capped, {@link maxRestartDelayMs}; back to the first
 * after a session that ran longer than the cap). A session that ends without
 * an error starts again too (a consumer that was closed under it).
 */
export async function runWithRestarts(session: () => Promise<void>, o: RestartOptions): Promise<void> {
  const cap = maxRestartDelayMs(o.restartDelayMs);
  let delay = o.restartDelayMs;
  let attempt = 0;
  while (!o.signal.aborted) {
    const started = Date.now();
    try {
      await session();
    } catch (err) {
      if (o.signal.aborted) break;
      if (Date.now() - started >= cap) [delay, attempt] = [o.restartDelayMs, 0];
      attempt++;
      o.onRestart?.();
      logRestart(o.logger, `${o.what} failed; restarting`, err, attempt, delay);
      await sleep(delay, o.signal);
      delay = Math.min(delay * 2, cap);
      continue;
    }
    if (!o.signal.aborted) await sleep(o.restartDelayMs, o.signal);
  }
}

/** Resolves after `ms`, or early when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
