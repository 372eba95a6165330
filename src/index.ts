/**
 * agentstate: the public entry (`import ... from 'agentstate'`). Start with
 * {@link openAgentState}; the classes it wires are exported for callers that
 * build their own. Adapters are in `agentstate/embedded` and
 * `agentstate/servers`; the environment reader in `agentstate/config`.
 */
export {
  openAgentState,
  subscribeStates,
  PROJECTOR_VARIABLE,
  type OpenedAgentState,
  type OpenAgentStateOptions,
  type ProjectorMode,
  type ServerOptions,
  type SubscribedState,
  type SubscribeOptions,
  type SubscribeHandlerOptions,
} from './sdk/index.js';

export { AgentStateClient, JsonEventCodec, RegistryEventCodec } from './client/index.js';
export type { AgentStateClientOptions, EventCodec, StateUpdateResult, Update, UpdateOptions, Heartbeat } from './client/index.js';
export type { TaskInput } from './client/typed.js';

export { StateManager } from './manager/index.js';
export type { StateManagerOptions, CompactionStrategy, CreateSnapshotOptions, EventReplayResult, RetentionPolicy, StateView, VersionInfo, ReplayError } from './manager/index.js';

export { Projector, MetricsRegistry } from './projector/index.js';
export type { ProjectorOptions, SnapshotPolicy, Metrics } from './projector/index.js';

export { Keyring, MasterKeySet, RegistryCodec } from './codec/index.js';
export { topicNames, topicSpecs, projectorGroup, type TopicNames } from './log/topics.js';
export type { EventLog, LogRecord, StoredRecord, TopicSpec } from './log/port.js';
export type { StateStore, SnapshotRecord, SnapshotType, StoredState, StoredEvent } from './store/port.js';
export type { BlobStore } from './blob/port.js';
export type { Cache, CacheStats } from './cache/port.js';

export { STATE_EVENT_TYPES, SEED_EVENT_TYPES, checksum, diff, applyChanges, initialState } from './domain/index.js';
export type { AgentState, AgentStatus, Change, ChangeOp, JsonObject, JsonValue, StateEvent, StateEventType, TaskRecord } from './domain/index.js';

export { AgentStateError, ConfigError, ConflictError, FencedError, NotFoundError, UnavailableError, AlreadyExistsError, type ErrorCode } from './errors.js';
export { ChecksumMismatchError, InvalidInputError, InvalidPathError, TooLargeError } from './domain/index.js';
export { DecodeError, KeyError, KeyDestroyedError, SchemaError } from './codec/index.js';
