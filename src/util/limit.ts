/**
 * At most `max` tasks at once, first come first served. One limiter shared by
 * every caller of a resource bounds the total in flight, however many callers
 * run concurrently (e.g. the projector's partitions sharing one store).
 */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly max: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      // Hand the slot to the next waiter directly, so `active` never dips and lets a newcomer jump the queue.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/** Runs `fn` over `items` through `limiter`; the first failure rejects once all have settled. */
export async function forEachLimited<T>(items: readonly T[], limiter: Limiter, fn: (item: T) => Promise<void>): Promise<void> {
  const results = await Promise.allSettled(items.map((item) => limiter.run(() => fn(item))));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
