/**
 * Runs `task` for many callers at once: a call shares the next run that
 * starts after it (never one already under way, whose answer may predate the
 * caller's need), so N concurrent callers cost at most two runs.
 */
export function coalesced<T>(task: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  let queued: Promise<T> | undefined;
  const start = (): Promise<T> => {
    const p = task().finally(() => {
      if (running === p) running = undefined;
    });
    running = p;
    return p;
  };
  return () => {
    if (!running) return start();
    queued ??= running
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        queued = undefined;
        return start();
      });
    return queued;
  };
}

/**
 * Like {@link coalesced}, for callers that need a run started after some
 * earlier moment rather than after their call: `ticket()` marks the moment
 * (e.g. when a produce request was acknowledged), and `run(ticket)` shares
 * the run under way when it started after that ticket, else the next one.
 * The writes of one produce answer then share one read of the claim feed
 * instead of waiting for two (the first caller's, then everyone else's).
 */
export class TicketedRun<T> {
  private seq = 0;
  private running: { startedAt: number; done: Promise<T> } | undefined;
  private queued: Promise<T> | undefined;

  constructor(private readonly task: () => Promise<T>) {}

  /** A point in time: a run started after this call carries a higher number. */
  ticket(): number {
    return ++this.seq;
  }

  /** Resolves with a run started after `since` (by default, after this call). */
  run(since = this.ticket()): Promise<T> {
    if (!this.running) return this.queued ?? this.start();
    if (this.running.startedAt > since) return this.running.done;
    const current = this.running.done;
    this.queued ??= current
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        this.queued = undefined;
        return this.start();
      });
    return this.queued;
  }

  private start(): Promise<T> {
    const startedAt = this.ticket();
    const done: Promise<T> = this.task().finally(() => {
      if (this.running?.done === done) this.running = undefined;
    });
    this.running = { startedAt, done };
    return done;
  }
}
