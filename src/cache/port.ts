/** Hit/miss counters of one cache instance (this process's view). */
export interface CacheStats {
  hits: number;
  misses: number;
  sets: number;
  deletes: number;
  /** Invalidation messages received from other nodes. */
  invalidationsReceived: number;
  /** hits / (hits + misses), 0 when nothing was read. */
  hitRate: number;
}

/**
 * The cache port: current state by key (read-through / write-through), with
 * cross-node invalidation. Adapters: Redis (`RedisCache`) and an in-memory LRU.
 * Values are opaque bytes; callers encode.
 */
export interface Cache {
  get(key: string): Promise<Buffer | undefined>;
  /** @param ttlMs expiry in milliseconds; omitted = no expiry */
  set(key: string, value: Uint8Array, ttlMs?: number): Promise<void>;
  delete(key: string): Promise<void>;
  /** Deletes the key here and tells every other node sharing the cache to drop it. */
  invalidate(key: string): Promise<void>;
  /** Called for every invalidation published by any node (this one included). Returns an unsubscribe function. */
  onInvalidate(listener: (key: string) => void): () => void;
  stats(): CacheStats;
  /** Safe to call twice; never closes a connection the caller passed in. */
  close(): Promise<void>;
}

/** A mutable stats record with the derived hit rate. */
export class CacheCounters {
  hits = 0;
  misses = 0;
  sets = 0;
  deletes = 0;
  invalidationsReceived = 0;

  snapshot(): CacheStats {
    const reads = this.hits + this.misses;
    return {
      hits: this.hits,
      misses: this.misses,
      sets: this.sets,
      deletes: this.deletes,
      invalidationsReceived: this.invalidationsReceived,
      hitRate: reads === 0 ? 0 : this.hits / reads,
    };
  }
}
