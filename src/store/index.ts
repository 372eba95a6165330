// The port only: importing it loads no driver. Adapters are their own entry
// points (`./mongo/index.js`, `./sqlite/index.js`), imported by composition roots.
export type { AgentSummary, BodyEncoding, QueryPage, StateFilter, EventQuery, LogPosition, SnapshotQuery, SnapshotRecord, SnapshotType, StateStore, StoreCounts, StoredEvent, StoredState, WriteResult } from './port.js';
export { InMemoryDataKeyStore, type DataKeyStore, type WrappedDataKey } from './data-keys.js';
export { seedTrigger } from './port.js';
export { DEFAULT_QUERY_LIMIT, MAX_QUERY_LIMIT } from './query.js';
export { DEFAULT_STATE_FIELDS_OPTIONS, joinState, splitState, stateOfRow, type SplitState, type StateFields, type StateFieldsOptions } from './state-fields.js';
