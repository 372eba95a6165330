export { AgentStateClient, type AgentStateClientOptions, type StateUpdateResult, type UpdateOptions, type Update } from './client.js';
export { JsonEventCodec, type EventCodec } from './codec.js';
export { AppendBatcher } from './batcher.js';
export { TailReader, HEADER, type Outcome, type TailBootstrap, type TailStats } from './tail.js';
export { RegistryEventCodec } from './avro-codec.js';
export type { Heartbeat } from './heartbeat.js';
export { typed, type MigrationInfo, type ResourceRelease, type SnapshotInfo, type TaskInput, type TypedUpdate } from './typed.js';
