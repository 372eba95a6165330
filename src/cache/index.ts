export { CacheCounters, type Cache, type CacheStats } from './port.js';
export { RedisCache, type RedisCacheOptions } from './redis.js';
export { MemoryCache, MemoryInvalidationBus, type MemoryCacheOptions } from './memory.js';
