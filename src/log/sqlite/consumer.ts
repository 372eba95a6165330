import type { ConsumedBatch, ConsumeOptions, Consumer } from '../port.js';
import type { GroupMembership } from './members.js';
import { offsetString } from './offsets.js';
import type { LogTables, TopicRow } from './tables.js';

/** What a consumer needs from its log, beyond the tables. */
export interface ConsumerContext {
  tables: LogTables;
  members: GroupMembership;
  /** Resolves on the next append in this process, or after `ms`, or when `signal` aborts. */
  waitForAppend(ms: number, signal: AbortSignal): Promise<void>;
  pollIntervalMs: number;
  heartbeatIntervalMs: number;
  /** Called once when the consumer has stopped (for the log's bookkeeping). */
  onStopped(consumer: SqliteConsumer): void;
}

interface Assignment {
  topic: TopicRow;
  partition: number;
}

/**
 * One running consumer of the embedded log. It owns every partition of its
 * topics (one member per group, see members.ts) and loops: pick the next
 * partition with records past its position (round robin, so one busy
 * partition cannot starve the others), hand the batch to the handler, and
 * commit `last offset + 1` only after the handler resolved (DESIGN.md
 * Invariant 4). A throwing handler stops the loop without a commit, so a
 * restarted consumer of the group gets the same batch again.
 */
export class SqliteConsumer implements Consumer {
  readonly done: Promise<void>;
  private readonly stopper = new AbortController();

  constructor(
    private readonly ctx: ConsumerContext,
    private readonly options: ConsumeOptions,
    private readonly topics: TopicRow[],
    private readonly memberId: string,
  ) {
    if (options.signal) {
      if (options.signal.aborted) this.stopper.abort();
      else options.signal.addEventListener('abort', () => this.stopper.abort(), { once: true });
    }
    // A timer, not the loop, refreshes the membership row: a handler that runs
    // longer than the session timeout must not make the member look dead.
    const heartbeat = setInterval(() => {
      try {
        this.ctx.members.heartbeat(this.options.group, this.memberId);
      } catch {
        // The next tick retries; a closed database ends the consumer anyway.
      }
    }, ctx.heartbeatIntervalMs);
    heartbeat.unref();
    this.done = this.run().finally(() => {
      clearInterval(heartbeat);
      this.ctx.members.leave(this.options.group, this.memberId);
      this.ctx.onStopped(this);
    });
    // `done` is observed through stop(); an unobserved rejection must not crash the process.
    this.done.catch(() => undefined);
  }

  /** Stops after the batch in hand is handled and committed; resolves when stopped (never rejects). */
  async stop(): Promise<void> {
    this.stopper.abort();
    await this.done.catch(() => undefined);
  }

  private async run(): Promise<void> {
    const { tables } = this.ctx;
    const { group, handler } = this.options;
    const maxRecords = this.options.maxBatchRecords ?? 500;
    const signal = this.stopper.signal;
    const assignments: Assignment[] = this.topics.flatMap((topic) => Array.from({ length: topic.partitions }, (_, partition) => ({ topic, partition })));
    const positions = this.initialPositions();
    let next = 0;
    while (!signal.aborted) {
      let batch: ConsumedBatch | undefined;
      for (let i = 0; i < assignments.length && !batch; i++) {
        const a = assignments[(next + i) % assignments.length]!;
        const position = positions.get(a.topic.name)!.get(a.partition)!;
        const end = tables.endOffset(a.topic, a.partition);
        if (end <= position) continue;
        const records = tables.read(a.topic, a.partition, position, end, maxRecords);
        if (records.length === 0) {
          // Only compacted-away offsets before the end: skip over them.
          positions.get(a.topic.name)!.set(a.partition, end);
          continue;
        }
        next = (next + i + 1) % assignments.length;
        batch = { topic: a.topic.name, partition: a.partition, records, highWatermark: offsetString(end) };
      }
      if (!batch) {
        await this.ctx.waitForAppend(this.ctx.pollIntervalMs, signal);
        continue;
      }
      await handler(batch);
      const topic = this.topics.find((t) => t.name === batch.topic)!;
      const committed = BigInt(batch.records[batch.records.length - 1]!.offset) + 1n;
      tables.commit(group, topic, new Map([[batch.partition, committed]]));
      positions.get(topic.name)!.set(batch.partition, committed);
    }
  }

  /** Committed offsets, else earliest (log start) or latest (end) per `fromBeginning`. */
  private initialPositions(): Map<string, Map<number, bigint>> {
    const fromBeginning = this.options.fromBeginning ?? true;
    const positions = new Map<string, Map<number, bigint>>();
    for (const topic of this.topics) {
      const committed = this.ctx.tables.committed(this.options.group, topic);
      const byPartition = new Map<number, bigint>();
      for (const b of this.ctx.tables.bounds(topic)) {
        // Kafka's auto.offset.reset: an offset before the log start moves to the log start.
        const c = committed.get(b.partition);
        byPartition.set(b.partition, c !== undefined ? (c < b.start ? b.start : c) : fromBeginning ? b.start : b.end);
      }
      positions.set(topic.name, byPartition);
    }
    return positions;
  }
}
