export { Projector } from './projector.js';
export { resolveProjectorOptions, type ProjectorOptions, type ResolvedProjectorOptions } from './options.js';
export { Snapshotter, snapshotPolicy, DEFAULT_SNAPSHOT_POLICY, type SnapshotPolicy, type SnapshotInput } from './snapshots.js';
export { encodeState, decodeState, DEFAULT_BODY_OPTIONS, type BodyOptions, type EncodedBody } from './body.js';
export { MetricsRegistry, NO_METRICS, type Metrics } from './metrics.js';
export { resetProjectorGroup, parseResetTarget, type ResetProjectorGroupOptions } from './replay.js';
export { stateCacheKey, encodeCached, decodeCached, DLQ_HEADER, type CachedHeader } from './wire.js';
export { parseStateTopicValue, type StateTopicValue } from '../log/state-topic.js';
export { retrying, sleep, type RetryOptions } from './retry.js';
