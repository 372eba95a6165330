export type {
  AgentSummary,
  BodyEncoding,
  QueryPage,
  StateFilter,
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
export { seedTrigger } from './port.js';
export { DEFAULT_QUERY_LIMIT, MAX_QUERY_LIMIT } from './query.js';
export { DEFAULT_STATE_FIELDS_OPTIONS, joinState, splitState, stateOfRow, type SplitState, type StateFields, type StateFieldsOptions } from './state-fields.js';
export { MongoConnection, MongoStore, type MongoConnectionOptions, type MongoStoreOptions } from './mongo/index.js';
export { SqliteStateStore, type SqliteStateStoreOptions } from './sqlite/index.js';
