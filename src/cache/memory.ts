import { ClosedError, ConfigError } from '../errors.js';
import { CacheCounters, checkTtl, checkVersion, type Cache, type CacheStats } from './port.js';

/**
 * Fans invalidations out to every MemoryCache built with it: the in-process
 * stand-in for Redis pub/sub, so several "nodes" in one process (tests, the
 * embedded profile's services) drop each other's copies.
 */
export class MemoryInvalidationBus {
  private readonly caches = new Set<(key: string) => void>();

  /** @internal used by MemoryCache */
  join(deliver: (key: string) => void): () => void {
    this.caches.add(deliver);
    return () => this.caches.delete(deliver);
  }

  publish(key: string): void {
    for (const deliver of [...this.caches]) deliver(key);
  }
}

export interface MemoryCacheOptions {
  /** Bound on the bytes held (values plus UTF-8 keys). @default 67108864 (64 MiB) */
  maxBytes?: number;
  /** Bound on the number of entries. @default Infinity */
  maxEntries?: number;
  /** Share invalidations with other MemoryCaches; by default each cache has its own bus. */
  bus?: MemoryInvalidationBus;
  /** Clock, for tests of expiry. @default Date.now */
  now?: () => number;
}

interface Entry {
  value: Buffer;
  size: number;
  /** Set by setIfNewer; undefined = an unversioned entry. */
  version: number | undefined;
  /** Epoch ms; undefined = no expiry. */
  expiresAt: number | undefined;
}

/**
 * Cache port in process memory (embedded profile): an LRU bounded by total
 * bytes and/or entry count, with per-entry TTL. A JS Map keeps insertion
 * order, so re-inserting on every hit makes its first key the least recently
 * used one, evicted first. Expired entries are dropped when read, or evicted
 * in LRU order like any other.
 *
 * Values are copied in and out, as a networked cache would: a caller that
 * mutates a buffer cannot change what the cache holds. A value larger than
 * `maxBytes` is not cached at all (the key is dropped), rather than evicting
 * everything else for it.
 */
export class MemoryCache implements Cache {
  private readonly entries = new Map<string, Entry>();
  private readonly counters = new CacheCounters();
  private readonly listeners = new Set<(key: string) => void>();
  private readonly maxBytes: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly bus: MemoryInvalidationBus;
  private readonly leaveBus: () => void;
  private bytesHeld = 0;
  private evicted = 0;
  private closed = false;

  constructor(options: MemoryCacheOptions = {}) {
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.maxEntries = options.maxEntries ?? Number.POSITIVE_INFINITY;
    if (!(this.maxBytes > 0) || (Number.isFinite(this.maxBytes) && !Number.isInteger(this.maxBytes))) {
      throw new ConfigError('maxBytes', 'must be a positive integer');
    }
    if (!(this.maxEntries > 0) || (Number.isFinite(this.maxEntries) && !Number.isInteger(this.maxEntries))) {
      throw new ConfigError('maxEntries', 'must be a positive integer');
    }
    this.now = options.now ?? Date.now;
    this.bus = options.bus ?? new MemoryInvalidationBus();
    this.leaveBus = this.bus.join((key) => this.receive(key));
  }

  async get(key: string): Promise<Buffer | undefined> {
    this.open();
    // A hit would otherwise resolve without ever leaving the microtask queue:
    // a reader looping on hits would starve timers and I/O, the in-process
    // projector among them (issue 11). One setImmediate per read hands the
    // loop over at a bounded cost (a few microseconds; measured in
    // test/contract/cache/memory.unit.test.ts).
    await yieldToLoop();
    this.open();
    const entry = this.live(key);
    if (entry) {
      // Most recently used goes to the end of the Map's order.
      this.entries.delete(key);
      this.entries.set(key, entry);
      this.counters.hits++;
      return Buffer.from(entry.value);
    }
    this.counters.misses++;
    return undefined;
  }

  async set(key: string, value: Uint8Array, ttlMs?: number): Promise<void> {
    this.open();
    checkTtl(key, ttlMs);
    this.put(key, value, undefined, ttlMs);
  }

  async setIfNewer(key: string, value: Uint8Array, version: number, ttlMs?: number): Promise<boolean> {
    this.open();
    checkTtl(key, ttlMs);
    checkVersion(key, version);
    // Check and write in one synchronous step: atomic in a single-threaded process.
    const old = this.live(key);
    if (old?.version !== undefined && old.version > version) return false;
    this.put(key, value, version, ttlMs);
    return true;
  }

  async delete(key: string): Promise<void> {
    this.open();
    const entry = this.entries.get(key);
    if (entry) this.remove(key, entry);
    this.counters.deletes++;
  }

  async invalidate(key: string): Promise<void> {
    await this.delete(key);
    this.bus.publish(key);
  }

  onInvalidate(listener: (key: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): CacheStats {
    return this.counters.snapshot();
  }

  /** Current occupancy and how many entries were evicted to stay within bounds. */
  usage(): { entries: number; bytes: number; evictions: number } {
    return { entries: this.entries.size, bytes: this.bytesHeld, evictions: this.evicted };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.leaveBus();
    this.listeners.clear();
    this.entries.clear();
    this.bytesHeld = 0;
  }

  private put(key: string, value: Uint8Array, version: number | undefined, ttlMs: number | undefined): void {
    const old = this.entries.get(key);
    if (old) this.remove(key, old);
    this.counters.sets++;
    const size = value.byteLength + Buffer.byteLength(key);
    if (size > this.maxBytes) return;
    this.entries.set(key, { value: Buffer.from(value), size, version, expiresAt: ttlMs === undefined ? undefined : this.now() + ttlMs });
    this.bytesHeld += size;
    this.evict();
  }

  /** The entry of `key` unless it expired (an expired one is dropped). */
  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt !== undefined && entry.expiresAt <= this.now()) {
      this.remove(key, entry);
      return undefined;
    }
    return entry;
  }

  private receive(key: string): void {
    const entry = this.entries.get(key);
    if (entry) this.remove(key, entry);
    this.counters.invalidationsReceived++;
    for (const l of [...this.listeners]) l(key);
  }

  private evict(): void {
    while (this.bytesHeld > this.maxBytes || this.entries.size > this.maxEntries) {
      const oldest = this.entries.entries().next();
      if (oldest.done) return;
      this.remove(oldest.value[0], oldest.value[1]);
      this.evicted++;
    }
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytesHeld -= entry.size;
  }

  private open(): void {
    if (this.closed) throw new ClosedError('the memory cache');
  }
}

/** Resolves on the next turn of the event loop, after pending I/O callbacks. */
function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
