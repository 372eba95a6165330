export { MongoConnection, type MongoConnectionOptions } from './connection.js';
