export { SqliteStateStore, type SqliteStateStoreOptions } from './store.js';
