export { DATA_KEYS_SCHEMA_VERSION, SqliteDataKeyStore, type SqliteDataKeyStoreOptions } from './data-keys.js';
export { SqliteStateStore, type SqliteStateStoreOptions } from './store.js';
