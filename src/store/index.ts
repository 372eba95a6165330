// The port only: importing it loads no driver. Adapters are their own entry
// points (`./mongo/index.js`, `./sqlite/index.js`), imported by composition roots.
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
export { InMemoryDataKeyStore, type DataKeyStore, type WrappedDataKey } from './data-keys.js';
