/**
 * When a runtime host heartbeats: periodic heartbeats on a fixed grid from
 * its start (t0 + k x interval), and extra ones on demand (an agent it just
 * started, announced at once). One heartbeat is in flight at a time; a
 * periodic one due meanwhile follows it, so the rhythm the failure detector
 * learns (NodeHeartbeat.periodic) keeps its beat.
 */
export class HeartbeatClock {
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private nextBeat: Promise<void> | undefined;
  private periodicDue = false;
  private stopped = false;

  /** @param send builds and appends one heartbeat; it must not throw (the host logs a failed append) */
  constructor(
    private readonly intervalMs: number,
    private readonly send: (periodic: boolean) => Promise<void>,
  ) {}

  /** Sends the first periodic heartbeat, then one per interval. */
  async start(): Promise<void> {
    const t0 = Date.now();
    await this.beat(true);
    // A fixed grid, not setInterval: that re-arms from when its callback ran, so a loaded event loop's lag
    // added to every interval and the detector learned a slower rhythm (1.1 to 1.3 s for 1 s in the bench).
    let k = 0;
    const schedule = (): void => {
      k = Math.max(k + 1, Math.floor((Date.now() - t0) / this.intervalMs) + 1);
      this.timer = setTimeout(
        () => {
          if (this.stopped) return;
          void this.beat(true);
          schedule();
        },
        Math.max(0, t0 + k * this.intervalMs - Date.now()),
      );
    };
    schedule();
  }

  /** Resolves once a heartbeat started after this call is appended (an extra one); concurrent calls share one. */
  announce(): Promise<void> {
    this.nextBeat ??= (this.beating ?? Promise.resolve()).then(() => {
      this.nextBeat = undefined;
      return this.beat(false);
    });
    return this.nextBeat;
  }

  /**
   * Stops the clock. `last`: the heartbeat in flight finishes and one more is
   * sent (a planned stop's `stopping` heartbeat); without it nothing more is
   * sent, not even an announce already chained (a crash).
   */
  async stop(last: boolean): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!last) return;
    await this.beating;
    await this.beat(true, true);
  }

  private beat(periodic: boolean, final = false): Promise<void> {
    if (this.beating) {
      if (periodic) this.periodicDue = true;
      return this.beating;
    }
    if (this.stopped && !final) return Promise.resolve();
    this.beating = (async () => {
      try {
        await this.send(periodic);
      } finally {
        this.beating = undefined;
      }
      if (this.periodicDue && !this.stopped) {
        this.periodicDue = false;
        void this.beat(true);
      }
    })();
    return this.beating;
  }
}
