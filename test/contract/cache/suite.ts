import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cache, CacheStats } from '../../../src/cache/port.js';

/** Two nodes of one shared cache, both ready to receive invalidations. */
export interface CachePair {
  a: Cache;
  b: Cache;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Waits (up to 10 s) until `key` reads as absent: the expiry is the behaviour, not a fixed sleep. */
async function expired(cache: Cache, key: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await cache.get(key)) !== undefined) {
    if (Date.now() > deadline) throw new Error(`${key} still present 10 s after its ttl`);
    await sleep(25);
  }
}

function delta(before: CacheStats, after: CacheStats): Omit<CacheStats, 'hitRate'> {
  return {
    hits: after.hits - before.hits,
    misses: after.misses - before.misses,
    sets: after.sets - before.sets,
    deletes: after.deletes - before.deletes,
    invalidationsReceived: after.invalidationsReceived - before.invalidationsReceived,
  };
}

/**
 * The Cache conformance suite (STYLE.md habit 2), run against the in-memory
 * and Redis adapters. `make` returns two nodes sharing one namespace (for
 * Redis: one key prefix; in memory: one invalidation bus).
 */
export function cacheContract(
  name: string,
  make: () => Promise<CachePair>,
  /** Constructions with bad options: each must throw AS_CONFIG naming the field. */
  badOptions: ReadonlyArray<{ field: string; create: () => Cache }> = [],
): void {
  describe(`Cache contract: ${name}`, () => {
    let a: Cache;
    let b: Cache;
    let n = 0;
    const key = () => `k${++n}-${randomBytes(3).toString('hex')}`;

    beforeAll(async () => {
      ({ a, b } = await make());
    });
    afterAll(async () => {
      await a.close();
      await b.close();
      await a.close(); // safe twice
    });

    it('returns what was set, byte for byte (binary, empty, 1 MB), and undefined for unknown keys', async () => {
      const k1 = key();
      const binary = Buffer.from([0, 255, 1, 254, 10, 13, 0]);
      await a.set(k1, binary);
      expect(await a.get(k1)).toEqual(binary);
      const k2 = key();
      await a.set(k2, new Uint8Array(0));
      const empty = await a.get(k2);
      expect(empty).toBeInstanceOf(Buffer);
      expect(empty!.length).toBe(0);
      const k3 = key();
      const big = randomBytes(1_000_000);
      await a.set(k3, big);
      expect((await a.get(k3))!.equals(big)).toBe(true);
      expect(await a.get(key())).toBeUndefined();
    });

    it('is not changed by callers mutating buffers they passed in or got back', async () => {
      const k = key();
      const value = Buffer.from('original');
      await a.set(k, value);
      value.write('XXXXXXXX');
      const got = (await a.get(k))!;
      expect(got.toString()).toBe('original');
      got.write('YYYYYYYY');
      expect((await a.get(k))!.toString()).toBe('original');
    });

    it('overwrites, deletes, and deleting a missing key is not an error', async () => {
      const k = key();
      await a.set(k, Buffer.from('v1'));
      await a.set(k, Buffer.from('v2'));
      expect((await a.get(k))!.toString()).toBe('v2');
      await a.delete(k);
      await a.delete(k);
      expect(await a.get(k)).toBeUndefined();
    });

    it('expires a value after its ttl; a later set without ttl keeps it', async () => {
      // A ttl with a second of margin for the read back (a loaded CI machine), then wait for the expiry itself.
      const short = key();
      await a.set(short, Buffer.from('x'), 1000);
      expect((await a.get(short))!.toString()).toBe('x');
      const renewed = key();
      await a.set(renewed, Buffer.from('old'), 1000);
      await a.set(renewed, Buffer.from('forever'));
      await expired(a, short);
      expect((await a.get(renewed))!.toString()).toBe('forever');
    });

    it('setIfNewer stores when absent, older or equal, and never replaces a newer entry', async () => {
      const k = key();
      expect(await a.setIfNewer(k, Buffer.from('v5'), 5)).toBe(true);
      expect(await a.setIfNewer(k, Buffer.from('v4'), 4)).toBe(false);
      expect((await a.get(k))!.toString()).toBe('v5');
      // Equal version: the same state, rewritten (renews a TTL).
      expect(await a.setIfNewer(k, Buffer.from('v5 again'), 5)).toBe(true);
      expect((await a.get(k))!.toString()).toBe('v5 again');
      expect(await a.setIfNewer(k, Buffer.from('v7'), 7)).toBe(true);
      expect((await a.get(k))!.toString()).toBe('v7');
      expect(await a.setIfNewer(k, Buffer.from('v0'), 0)).toBe(false);
    });

    it('setIfNewer replaces an unversioned entry; set and delete drop the guard', async () => {
      const k = key();
      await a.set(k, Buffer.from('plain'));
      expect(await a.setIfNewer(k, Buffer.from('v1'), 1)).toBe(true);
      expect((await a.get(k))!.toString()).toBe('v1');
      await a.set(k, Buffer.from('plain again')); // an explicit overwrite is unversioned
      expect(await a.setIfNewer(k, Buffer.from('v0'), 0)).toBe(true);
      await a.setIfNewer(k, Buffer.from('v9'), 9);
      await a.delete(k);
      expect(await a.setIfNewer(k, Buffer.from('v2'), 2)).toBe(true);
      expect((await a.get(k))!.toString()).toBe('v2');
    });

    it('setIfNewer is atomic: concurrent guarded sets in any order leave the highest version', async () => {
      const keys = [key(), key(), key()];
      const versions = Array.from({ length: 40 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
      // (Nodes share values only where the adapter does, as Redis; the memory adapter shares invalidations alone.)
      await Promise.all(keys.flatMap((k) => versions.map((v) => a.setIfNewer(k, Buffer.from(`v${v}`), v))));
      for (const k of keys) expect((await a.get(k))!.toString()).toBe('v40');
    });

    it('setIfNewer honours a ttl, and refuses a bad version or ttl with AS_INVALID_INPUT', async () => {
      const k = key();
      await a.setIfNewer(k, Buffer.from('x'), 3, 1000);
      expect((await a.get(k))!.toString()).toBe('x');
      await expired(a, k);
      // Expired: a lower version may be stored again.
      expect(await a.setIfNewer(k, Buffer.from('y'), 1)).toBe(true);
      for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
        await expect(a.setIfNewer(k, Buffer.from('z'), bad)).rejects.toMatchObject({ code: 'AS_INVALID_INPUT' });
      }
      await expect(a.setIfNewer(k, Buffer.from('z'), 2, 0)).rejects.toMatchObject({ code: 'AS_INVALID_INPUT' });
      expect((await a.get(k))!.toString()).toBe('y');
    });

    it('counts hits, misses, sets and deletes, with the hit rate', async () => {
      const before = a.stats();
      const k = key();
      await a.set(k, Buffer.from('v'));
      await a.get(k);
      await a.get(k);
      await a.get(key());
      await a.delete(k);
      const after = a.stats();
      expect(delta(before, after)).toEqual({ hits: 2, misses: 1, sets: 1, deletes: 1, invalidationsReceived: 0 });
      expect(after.hitRate).toBeCloseTo(after.hits / (after.hits + after.misses), 10);
      expect(after.hitRate).toBeGreaterThan(0);
      expect(after.hitRate).toBeLessThanOrEqual(1);
    });

    it('delivers an invalidation to the other node and to itself, and drops the key', async () => {
      const k = key();
      const atA: string[] = [];
      const atB: string[] = [];
      const offA = a.onInvalidate((x) => atA.push(x));
      const offB = b.onInvalidate((x) => atB.push(x));
      try {
        await a.set(k, Buffer.from('v'));
        await b.set(k, Buffer.from('v'));
        const before = b.stats();
        await a.invalidate(k);
        await until(() => atA.includes(k) && atB.includes(k), 'the invalidation on both nodes');
        expect(await a.get(k)).toBeUndefined();
        expect(await b.get(k)).toBeUndefined();
        expect(b.stats().invalidationsReceived - before.invalidationsReceived).toBeGreaterThanOrEqual(1);
      } finally {
        offA();
        offB();
      }
    });

    it('stops calling a listener once it unsubscribed', async () => {
      const k = key();
      const gone: string[] = [];
      const kept: string[] = [];
      const off = b.onInvalidate((x) => gone.push(x));
      const offKept = b.onInvalidate((x) => kept.push(x));
      off();
      await a.invalidate(k);
      await until(() => kept.includes(k), 'the invalidation');
      expect(gone).toEqual([]);
      offKept();
    });

    // Error cases (issue 13): the same answer on every adapter.
    it('answers unknown keys as misses: get undefined, delete and invalidate are no-ops, setIfNewer stores', async () => {
      const k = key();
      expect(await a.get(k)).toBeUndefined();
      await a.delete(k);
      await a.invalidate(k);
      expect(await a.get(k)).toBeUndefined();
      expect(await a.setIfNewer(k, Buffer.from('first'), 0)).toBe(true);
      expect((await a.get(k))!.toString()).toBe('first');
    });

    it('refuses a bad ttl on set with AS_INVALID_INPUT, storing nothing', async () => {
      const k = key();
      for (const bad of [0, -1, 1.5, Number.NaN]) {
        await expect(a.set(k, Buffer.from('x'), bad), `ttl ${bad}`).rejects.toMatchObject({ code: 'AS_INVALID_INPUT' });
      }
      expect(await a.get(k)).toBeUndefined();
    });

    it('answers use after close with AS_CLOSED, not retryable, on every operation', async () => {
      const pair = await make();
      await pair.b.close();
      await pair.a.close();
      const closed = { code: 'AS_CLOSED', retryable: false };
      const k = key();
      await expect(pair.a.get(k)).rejects.toMatchObject(closed);
      await expect(pair.a.set(k, Buffer.from('x'))).rejects.toMatchObject(closed);
      // Closed comes first: a closed cache refuses even input it would refuse anyway.
      await expect(pair.a.set(k, Buffer.from('x'), 0)).rejects.toMatchObject(closed);
      await expect(pair.a.setIfNewer(k, Buffer.from('x'), 1)).rejects.toMatchObject(closed);
      await expect(pair.a.delete(k)).rejects.toMatchObject(closed);
      await expect(pair.a.invalidate(k)).rejects.toMatchObject(closed);
      await pair.a.close(); // still safe
    });

    if (badOptions.length > 0) {
      it('refuses bad options with AS_CONFIG naming the field', () => {
        for (const { field, create } of badOptions) {
          let err: unknown;
          try {
            create();
          } catch (e) {
            err = e;
          }
          expect(err, field).toMatchObject({ code: 'AS_CONFIG' });
          expect((err as Error).message, field).toContain(field);
        }
      });
    }
  });
}
