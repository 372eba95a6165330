export { MongoConnection, type MongoConnectionOptions } from './connection.js';
export { MongoStore, type MongoStoreOptions } from './store.js';
