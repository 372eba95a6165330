export { AgentStateClient, type AgentStateClientOptions, type StateUpdateResult, type UpdateOptions, type Update } from './client.js';
// The event codecs live in src/codec; re-exported here for SDK users.
export { JsonEventCodec, type EventCodec } from '../codec/event-codec.js';
export { AppendBatcher } from './batcher.js';
export { TailReader, HEADER, type Outcome, type TailBootstrap, type TailStats } from './tail.js';
export { RegistryEventCodec } from '../codec/registry-event-codec.js';
export type { Heartbeat } from '../domain/heartbeat.js';
export { typed, type MigrationInfo, type ResourceRelease, type SnapshotInfo, type TaskInput, type TypedUpdate } from './typed.js';
