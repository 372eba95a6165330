import { describe, expect, it } from 'vitest';
import { RedisCache } from '../../../src/cache/redis.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { cacheContract } from './suite.js';

cacheContract(
  'RedisCache',
  async () => {
    const prefix = `${uniqueName('contract')}:`;
    const a = new RedisCache({ url: stackEnv().redisUrl, prefix });
    const b = new RedisCache({ url: stackEnv().redisUrl, prefix });
    // Both nodes listen before the suite publishes anything.
    await Promise.all([a.subscribe(), b.subscribe()]);
    return { a, b };
  },
  [{ field: 'url', create: () => new RedisCache({}) }],
);

describe('RedisCache specifics', () => {
  it('guards across nodes: concurrent setIfNewer from two connections leave the highest version', async () => {
    const prefix = `${uniqueName('guard')}:`;
    const a = new RedisCache({ url: stackEnv().redisUrl, prefix });
    const b = new RedisCache({ url: stackEnv().redisUrl, prefix });
    try {
      const versions = Array.from({ length: 60 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
      const stored = await Promise.all(versions.map((v, i) => (i % 2 ? a : b).setIfNewer('k', Buffer.from(`v${v}`), v)));
      expect(stored.filter(Boolean).length).toBeGreaterThanOrEqual(1);
      expect((await a.get('k'))!.toString()).toBe('v60');
      expect(await b.setIfNewer('k', Buffer.from('old'), 59)).toBe(false);
      expect((await b.get('k'))!.toString()).toBe('v60');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('reads a value an older release stored as a plain string as a miss, and replaces it', async () => {
    const prefix = `${uniqueName('legacy')}:`;
    const cache = new RedisCache({ url: stackEnv().redisUrl, prefix });
    const { Redis } = await import('ioredis');
    const raw = new Redis(stackEnv().redisUrl);
    try {
      await raw.set(`${prefix}k`, 'legacy');
      expect(await cache.get('k')).toBeUndefined();
      expect(await cache.setIfNewer('k', Buffer.from('v1'), 1)).toBe(true);
      expect((await cache.get('k'))!.toString()).toBe('v1');
    } finally {
      await raw.quit();
      await cache.close();
    }
  });
});
