import { RedisCache } from '../../../src/cache/redis.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { cacheContract } from './suite.js';

cacheContract('RedisCache', async () => {
  const prefix = `${uniqueName('contract')}:`;
  const a = new RedisCache({ url: stackEnv().redisUrl, prefix });
  const b = new RedisCache({ url: stackEnv().redisUrl, prefix });
  // Both nodes listen before the suite publishes anything.
  await Promise.all([a.subscribe(), b.subscribe()]);
  return { a, b };
});
