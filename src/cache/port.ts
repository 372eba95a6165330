import { InvalidInputError } from '../errors.js';

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
  /**
   * Stores `value` unconditionally (an unversioned entry, which any
   * {@link setIfNewer} replaces).
   * @param ttlMs expiry in milliseconds; omitted = no expiry
   */
  set(key: string, value: Uint8Array, ttlMs?: number): Promise<void>;
  /**
   * Version-guarded set, atomic on every adapter: stores `value` with `version`
   * unless the entry present holds a higher version (an equal version is
   * rewritten: the same version is the same state, DESIGN.md Invariant 2, and
   * the rewrite renews its TTL). So a late writer (a redelivered batch, a
   * read-through fill from a store read that a newer write overtook) never
   * replaces a newer entry. Returns whether it stored the value.
   * @param version a safe integer >= 0
   * @param ttlMs expiry in milliseconds; omitted = no expiry
   */
  setIfNewer(key: string, value: Uint8Array, version: number, ttlMs?: number): Promise<boolean>;
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

/** Checks a guard version (every adapter refuses the same bad input the same way). */
export function checkVersion(key: string, version: number): void {
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new InvalidInputError(`cache set ${key}`, 'version must be a safe integer >= 0');
  }
}

/** Checks a TTL the way Redis would (it refuses PX <= 0), before any adapter acts on it. */
export function checkTtl(key: string, ttlMs: number | undefined): void {
  if (ttlMs !== undefined && !(Number.isInteger(ttlMs) && ttlMs > 0)) {
    throw new InvalidInputError(`cache set ${key}`, 'ttlMs must be a positive integer');
  }
}
