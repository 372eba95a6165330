import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisCache } from '../../../src/cache/redis.js';
import { stackEnv, uniqueName } from '../../support/env.js';

describe('Redis cache against a real Redis', () => {
  let a: RedisCache;
  let b: RedisCache;

  beforeAll(() => {
    const prefix = `${uniqueName('smoke')}:`;
    a = new RedisCache({ url: stackEnv().redisUrl, prefix });
    b = new RedisCache({ url: stackEnv().redisUrl, prefix });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await a.close();
  });

  it('sets and gets binary values and counts hits and misses', async () => {
    const value = Buffer.from([0, 255, 1, 254, 10, 13]);
    await a.set('agent-1', value);
    expect(await a.get('agent-1')).toEqual(value);
    expect(await a.get('agent-2')).toBeUndefined();
    const s = a.stats();
    expect(s.hits).toBe(1);
    expect(s.misses).toBe(1);
    expect(s.hitRate).toBe(0.5);
  });

  it('expires values after their ttl', async () => {
    // A ttl long enough to read the value back on a loaded machine, then wait for Redis to drop it.
    await a.set('short', Buffer.from('x'), 1000);
    expect((await a.get('short'))?.toString()).toBe('x');
    const deadline = Date.now() + 10_000;
    while ((await a.get('short')) !== undefined) {
      expect(Date.now(), 'still there 10 s after a 1 s ttl').toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('publishes an invalidation that another node receives', async () => {
    await b.subscribe();
    const received = new Promise<string>((resolve) => b.onInvalidate(resolve));
    await a.set('agent-3', Buffer.from('v1'));
    await a.invalidate('agent-3');
    expect(await received).toBe('agent-3');
    expect(await b.get('agent-3')).toBeUndefined();
    expect(b.stats().invalidationsReceived).toBeGreaterThanOrEqual(1);
  });
});
