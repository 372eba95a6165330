import type { AppendResult, EventLog, LogRecord } from '../log/port.js';

interface Pending {
  record: LogRecord;
  resolve(result: AppendResult): void;
  reject(err: unknown): void;
}

/**
 * Collects appends into one `EventLog.append` at a time: what arrives while a
 * produce request is in flight goes out together in the next one (as Kafka's
 * own producer batches with one request in flight), so writes for many agents
 * share a request and a round trip instead of queueing one small request per
 * tick behind each other (issue 10). Order within one key is the call order:
 * one append is in flight at a time and records leave in arrival order.
 */
export class AppendBatcher {
  private pending: Pending[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private sending = false;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly log: EventLog,
    private readonly topic: string,
    private readonly lingerMs: number,
    private readonly maxBatch = 1000,
    /** Value bytes per request: a partition's batch must stay under the broker's message.max.bytes (1 MB by default). */
    private readonly maxBatchBytes = 1_000_000,
  ) {}

  append(record: LogRecord): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ record, resolve, reject });
      this.pendingBytes += record.value?.length ?? 0;
      if (this.pending.length >= this.maxBatch || this.pendingBytes >= this.maxBatchBytes) void this.flush();
      else this.schedule();
    });
  }

  /** Sends what is pending; resolves when everything sent so far is acknowledged. */
  flush(): Promise<void> {
    if (!this.sending && this.pending.length > 0) {
      this.sending = true;
      this.inFlight = this.drain();
    }
    return this.inFlight;
  }

  /** Sends requests one after another until nothing is pending (records that arrive meanwhile join the next one). */
  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.take();
        try {
          const results = await this.log.append(
            this.topic,
            batch.map((p) => p.record),
          );
          batch.forEach((p, i) => p.resolve(results[i]!));
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.sending = false;
    }
  }

  /** The oldest pending records, at most maxBatch of them and maxBatchBytes of values (at least one). */
  private take(): Pending[] {
    let n = 0;
    let bytes = 0;
    while (n < this.pending.length && n < this.maxBatch) {
      const size = this.pending[n]!.record.value?.length ?? 0;
      if (n > 0 && bytes + size > this.maxBatchBytes) break;
      bytes += size;
      n++;
    }
    this.pendingBytes -= bytes;
    return this.pending.splice(0, n);
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
