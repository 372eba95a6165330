import { describe, expect, it } from 'vitest';
import { MemoryCache, MemoryInvalidationBus } from '../../../src/cache/memory.js';
import { cacheContract } from './suite.js';

cacheContract(
  'MemoryCache',
  async () => {
    const bus = new MemoryInvalidationBus();
    return { a: new MemoryCache({ bus }), b: new MemoryCache({ bus }) };
  },
  [
    { field: 'maxBytes', create: () => new MemoryCache({ maxBytes: 0 }) },
    { field: 'maxEntries', create: () => new MemoryCache({ maxEntries: 1.5 }) },
  ],
);

const v = (s: string) => Buffer.from(s);

describe('MemoryCache specifics', () => {
  it('evicts the least recently used entry when over the entry bound; a read refreshes recency', async () => {
    const cache = new MemoryCache({ maxEntries: 3 });
    await cache.set('a', v('1'));
    await cache.set('b', v('2'));
    await cache.set('c', v('3'));
    await cache.get('a'); // a is now more recent than b
    await cache.set('d', v('4'));
    expect(await cache.get('b')).toBeUndefined();
    expect((await cache.get('a'))!.toString()).toBe('1');
    expect((await cache.get('c'))!.toString()).toBe('3');
    expect((await cache.get('d'))!.toString()).toBe('4');
    expect(cache.usage()).toMatchObject({ entries: 3, evictions: 1 });
  });

  it('keeps the bytes held (values + keys) within maxBytes', async () => {
    const cache = new MemoryCache({ maxBytes: 100 });
    for (let i = 0; i < 10; i++) await cache.set(`k${i}`, Buffer.alloc(20, i)); // 22 bytes each
    const usage = cache.usage();
    expect(usage.bytes).toBeLessThanOrEqual(100);
    expect(usage.entries).toBe(4);
    expect(usage.bytes).toBe(88);
    // The four most recent survive.
    for (let i = 6; i < 10; i++) expect((await cache.get(`k${i}`))![0]).toBe(i);
    expect(await cache.get('k5')).toBeUndefined();
    // Overwriting frees the old size first.
    await cache.set('k9', Buffer.alloc(2));
    expect(cache.usage().bytes).toBe(88 - 20 + 2);
  });

  it('does not cache a value larger than maxBytes, and drops the old value of that key', async () => {
    const cache = new MemoryCache({ maxBytes: 50 });
    await cache.set('small', v('x'));
    await cache.set('big', v('y'));
    await cache.set('big', Buffer.alloc(100));
    expect(await cache.get('big')).toBeUndefined();
    expect((await cache.get('small'))!.toString()).toBe('x');
  });

  it('expires by its clock', async () => {
    let now = 1_000_000;
    const cache = new MemoryCache({ now: () => now });
    await cache.set('t', v('x'), 1000);
    now += 999;
    expect(await cache.get('t')).toBeDefined();
    now += 1;
    expect(await cache.get('t')).toBeUndefined();
    expect(cache.usage().entries).toBe(0);
  });

  it('validates options and ttl, and refuses use after close', async () => {
    expect(() => new MemoryCache({ maxBytes: 0 })).toThrow(/maxBytes/);
    expect(() => new MemoryCache({ maxEntries: 1.5 })).toThrow(/maxEntries/);
    const cache = new MemoryCache();
    await expect(cache.set('k', v('x'), 0)).rejects.toMatchObject({ code: 'AS_INVALID_INPUT' });
    await cache.close();
    await expect(cache.get('k')).rejects.toMatchObject({ code: 'AS_CLOSED' });
  });

  it('hands the event loop over on every read, so a reader looping on hits cannot starve timers', async () => {
    const cache = new MemoryCache();
    await cache.set('hot', v('x'));
    let fired = false;
    setTimeout(() => (fired = true), 5);
    const started = performance.now();
    let reads = 0;
    // Without a yield inside get() this loop would never see the timer fire.
    while (!fired) {
      await cache.get('hot');
      reads++;
      if (performance.now() - started > 5000) break;
    }
    expect(fired).toBe(true);
    const perRead = (performance.now() - started) / reads;
    console.info(`memory cache: ${reads} reads until a 5 ms timer fired, ${(perRead * 1000).toFixed(1)} us per read`);
    await cache.close();
  });

  it('does not deliver invalidations to caches on another bus, or after close', async () => {
    const bus = new MemoryInvalidationBus();
    const a = new MemoryCache({ bus });
    const other = new MemoryCache();
    const closed = new MemoryCache({ bus });
    const heard: string[] = [];
    other.onInvalidate((k) => heard.push(`other:${k}`));
    closed.onInvalidate((k) => heard.push(`closed:${k}`));
    await closed.close();
    await a.invalidate('x');
    expect(heard).toEqual([]);
  });
});
