import type { AppendResult, EventLog, LogRecord } from '../log/port.js';

interface Pending {
  record: LogRecord;
  resolve(result: AppendResult): void;
  reject(err: unknown): void;
}

/**
 * Collects appends made in the same tick (or within `lingerMs`) into one
 * `EventLog.append`, so writes for many agents share a produce request. Order
 * within one key is the call order.
 */
export class AppendBatcher {
  private pending: Pending[] = [];
  private scheduled = false;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly log: EventLog,
    private readonly topic: string,
    private readonly lingerMs: number,
    private readonly maxBatch = 1000,
  ) {}

  append(record: LogRecord): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ record, resolve, reject });
      if (this.pending.length >= this.maxBatch) void this.flush();
      else this.schedule();
    });
  }

  /** Sends what is pending; resolves when everything sent so far is acknowledged. */
  flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    if (batch.length > 0) {
      // One append at a time keeps per-key order across batches.
      this.inFlight = this.inFlight.then(async () => {
        try {
          const results = await this.log.append(this.topic, batch.map((p) => p.record));
          batch.forEach((p, i) => p.resolve(results[i]!));
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      });
    }
    return this.inFlight;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      void this.flush();
    };
    if (this.lingerMs > 0) setTimeout(run, this.lingerMs);
    else setImmediate(run);
  }
}
