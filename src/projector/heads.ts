import type { Projection } from '../domain/index.js';
import type { LogPosition } from '../store/port.js';

/** What the projector keeps in memory about one agent. */
export interface Head {
  projection: Projection;
  /** Position of the last event this projection reflects; records at or before it are redeliveries. */
  position: LogPosition;
  createdAt: number;
  updatedAt: number;
  lastEventId: string;
  lastEventType: string;
  /** Changeset bytes since the last snapshot (this process only). */
  bytesSinceSnapshot: number;
}

/**
 * A bounded in-memory cache of heads, per partition. It is only a cache of
 * the store: a partition whose next batch does not start where this process
 * left it (a rebalance moved it away and back, or a batch failed) is dropped
 * and reloaded from the store, so a stale head can never make a valid event
 * look like a gap (DESIGN.md Invariant 1).
 */
export class HeadCache {
  private readonly byPartition = new Map<number, Map<string, Head>>();
  private readonly next = new Map<number, bigint>();
  private size = 0;

  constructor(private readonly maxHeads: number) {}

  /** Checks continuity for a batch starting at `firstOffset`; drops the partition's heads if broken. */
  begin(partition: number, firstOffset: string): void {
    const expected = this.next.get(partition);
    if (expected === undefined || expected !== BigInt(firstOffset)) this.dropPartition(partition);
  }

  get(partition: number, id: string): Head | undefined {
    return this.byPartition.get(partition)?.get(id);
  }

  /** Records heads after the batch's sinks held, and where the next batch must start. */
  commit(partition: number, heads: Map<string, Head>, nextOffset: bigint): void {
    let map = this.byPartition.get(partition);
    if (!map) {
      map = new Map();
      this.byPartition.set(partition, map);
    }
    for (const [id, head] of heads) {
      if (!map.has(id)) this.size++;
      map.delete(id); // re-insert: Map order is recency order
      map.set(id, head);
    }
    this.next.set(partition, nextOffset);
    while (this.size > this.maxHeads) {
      const oldest = map.keys().next();
      if (oldest.done) break;
      map.delete(oldest.value);
      this.size--;
    }
  }

  dropPartition(partition: number): void {
    const map = this.byPartition.get(partition);
    if (map) this.size -= map.size;
    this.byPartition.delete(partition);
    this.next.delete(partition);
  }

  clear(): void {
    this.byPartition.clear();
    this.next.clear();
    this.size = 0;
  }
}
