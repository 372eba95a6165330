import { Redis } from 'ioredis';
import { ClosedError, ConfigError, UnavailableError } from '../errors.js';
import { CacheCounters, checkTtl, checkVersion, type Cache, type CacheStats } from './port.js';

/**
 * Each entry is a hash: `d` = the value, `v` = its guard version (absent for an
 * unversioned `set`). One key, so expiry and eviction drop both at once. A key
 * of another type (a plain string left by an older release) is replaced by a
 * set and read as a miss.
 */
const FIELD_DATA = 'd';

/** KEYS[1] key; ARGV value, ttl ms ('' = none). */
const SET_SCRIPT = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'd', ARGV[1])
if ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`;

/**
 * KEYS[1] key; ARGV value, version, ttl ms ('' = none). Check and write in one
 * script: Redis runs it atomically, so two nodes' guarded sets cannot interleave.
 */
const SET_IF_NEWER_SCRIPT = `
if redis.call('TYPE', KEYS[1]).ok == 'hash' then
  local cur = redis.call('HGET', KEYS[1], 'v')
  if cur and tonumber(cur) > tonumber(ARGV[2]) then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'v', ARGV[2])
if ARGV[3] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`;

export interface RedisCacheOptions {
  /** A connection the caller owns (never closed here). Else one is opened from `url`. */
  client?: Redis;
  /** e.g. redis://127.0.0.1:6379 (rediss:// for TLS). */
  url?: string;
  /** Namespace for keys and the invalidation channel. @default 'agentstate:' */
  prefix?: string;
}

/**
 * Cache port on Redis. Invalidation uses pub/sub on `<prefix>invalidate`, so
 * every node drops its local copies when one node changes a key.
 */
export class RedisCache implements Cache {
  private readonly client: Redis;
  private readonly ownsClient: boolean;
  private readonly prefix: string;
  private readonly channel: string;
  private subscriber: Redis | undefined;
  private subscribing: Promise<void> | undefined;
  private readonly listeners = new Set<(key: string) => void>();
  private readonly counters = new CacheCounters();
  private closed = false;
  /** The last connection error ioredis reported (for diagnostics). */
  lastError: Error | undefined;

  constructor(options: RedisCacheOptions) {
    if (!options.client && !options.url) throw new ConfigError('url', 'a Redis url or client is required');
    this.prefix = options.prefix ?? 'agentstate:';
    this.channel = `${this.prefix}invalidate`;
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      this.client = new Redis(options.url!, { lazyConnect: false, maxRetriesPerRequest: 3 });
      this.ownsClient = true;
      // Connection errors surface as rejected commands (UnavailableError); without
      // a listener ioredis would also print "Unhandled error event" while Redis is down.
      this.client.on('error', (err: Error) => void (this.lastError = err));
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    this.assertOpen();
    const value = await this.call(() => this.client.hgetBuffer(this.prefix + key, FIELD_DATA).catch((err: Error) => (/WRONGTYPE/.test(err.message) ? null : Promise.reject(err))), `get ${key}`);
    if (value === null) {
      this.counters.misses++;
      return undefined;
    }
    this.counters.hits++;
    return value;
  }

  async set(key: string, value: Uint8Array, ttlMs?: number): Promise<void> {
    this.assertOpen();
    checkTtl(key, ttlMs);
    const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    await this.call(() => this.client.eval(SET_SCRIPT, 1, this.prefix + key, buf, ttlMs ?? ''), `set ${key}`);
    this.counters.sets++;
  }

  async setIfNewer(key: string, value: Uint8Array, version: number, ttlMs?: number): Promise<boolean> {
    this.assertOpen();
    checkTtl(key, ttlMs);
    checkVersion(key, version);
    const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    const stored = await this.call(() => this.client.eval(SET_IF_NEWER_SCRIPT, 1, this.prefix + key, buf, version, ttlMs ?? ''), `guarded set ${key}`);
    if (stored !== 1) return false;
    this.counters.sets++;
    return true;
  }

  async delete(key: string): Promise<void> {
    this.assertOpen();
    await this.call(() => this.client.del(this.prefix + key), `delete ${key}`);
    this.counters.deletes++;
  }

  async invalidate(key: string): Promise<void> {
    await this.delete(key);
    await this.call(() => this.client.publish(this.channel, key), `publish invalidation of ${key}`);
  }

  onInvalidate(listener: (key: string) => void): () => void {
    // After close: nothing will be delivered, and no subscriber connection is opened again.
    if (this.closed) return () => undefined;
    this.listeners.add(listener);
    void this.subscribe().catch(() => undefined);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once this node receives invalidations (tests and start-up wait on it). */
  subscribe(): Promise<void> {
    if (this.subscribing) return this.subscribing;
    const sub = this.client.duplicate();
    sub.on('error', (err: Error) => void (this.lastError = err));
    this.subscriber = sub;
    sub.on('message', (channel: string, key: string) => {
      if (channel !== this.channel) return;
      this.counters.invalidationsReceived++;
      for (const l of this.listeners) l(key);
    });
    this.subscribing = sub.subscribe(this.channel).then(() => undefined);
    return this.subscribing;
  }

  stats(): CacheStats {
    return this.counters.snapshot();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    if (this.subscriber) await this.subscriber.quit().catch(() => this.subscriber?.disconnect());
    if (this.ownsClient) await this.client.quit().catch(() => this.client.disconnect());
  }

  /**
   * Use after close is AS_CLOSED, as on every adapter: ioredis would answer
   * "Connection is closed" (retryable AS_UNAVAILABLE), and a client the caller
   * owns would still serve.
   */
  private assertOpen(): void {
    if (this.closed) throw new ClosedError('the Redis cache');
  }

  private async call<T>(op: () => Promise<T>, what: string): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw new UnavailableError(`Redis (${what}: ${(err as Error).message})`, { cause: err });
    }
  }
}
