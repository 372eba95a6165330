/**
 * `agentstate/embedded`: the no-server profile (one process, SQLite log and
 * store, blob files, an in-memory cache) and its adapters.
 */
import { openAgentState, type OpenAgentStateOptions, type OpenedAgentState } from './sdk/index.js';

/** {@link openAgentState} on the embedded profile, whatever the environment says about servers. */
export function openEmbedded(options: Omit<OpenAgentStateOptions, 'profile' | 'servers'> = {}): Promise<OpenedAgentState> {
  return openAgentState({ ...options, profile: 'embedded' });
}

export { SqliteEventLog, type SqliteEventLogOptions } from './log/sqlite/index.js';
export { SqliteStateStore, SqliteDataKeyStore, type SqliteStateStoreOptions, type SqliteDataKeyStoreOptions } from './store/sqlite/index.js';
export { FsBlobStore, type FsBlobStoreOptions } from './blob/fs.js';
export { MemoryCache, type MemoryCacheOptions } from './cache/memory.js';
