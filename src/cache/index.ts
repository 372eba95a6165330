// The port only; adapters: `./redis.js`, `./memory.js` (imported by composition roots).
export { CacheCounters, type Cache, type CacheStats } from './port.js';
