export { MongoConnection, type MongoConnectionOptions } from './connection.js';
export { MongoDataKeyStore } from './data-keys.js';
export { MongoStore, type MongoStoreOptions } from './store.js';
