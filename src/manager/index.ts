export { StateManager, type StateManagerOptions } from './manager.js';
export type { CompactionStrategy, CreateSnapshotOptions, EventReplayResult, RetentionPolicy, StateView, VersionInfo } from './types.js';
export type { ReplayError } from './time-travel.js';
