export { SqliteEventLog, type SqliteEventLogOptions } from './event-log.js';
export type { CompactionResult } from './compaction.js';
