export type {
  BodyEncoding,
  EventQuery,
  LogPosition,
  SnapshotQuery,
  SnapshotRecord,
  SnapshotType,
  StateStore,
  StoreCounts,
  StoredEvent,
  StoredState,
  WriteResult,
} from './port.js';
export { MongoConnection, MongoStore, type MongoConnectionOptions, type MongoStoreOptions } from './mongo/index.js';
export { SqliteStateStore, type SqliteStateStoreOptions } from './sqlite/index.js';
