import type { StateFields } from './state-fields.js';

/**
 * The state-store port: what the projector writes and the StateManager reads
 * (DESIGN.md Storage). Adapters: MongoDB (`MongoStore`) and SQLite (embedded
 * profile). One contract suite (test/contract/store) runs against both.
 *
 * A state is stored as queryable `fields` (the seed's sections, see
 * state-fields.ts and docs/store.md) plus an opaque body chosen by the caller
 * (canonical JSON, or a compressed frame from src/codec) holding the rest:
 * `memory`, the full task history, and any section a store could not keep
 * byte for byte. Offsets are decimal strings of 64-bit integers (STYLE.md habit 6).
 */

// A log position is a log concept, a body encoding a codec one; re-exported here for the store's users.
import type { LogPosition } from '../log/port.js';
import type { JsonObject } from '../domain/json.js';
import type { BodyEncoding } from '../codec/state-body.js';
import type { EventBodyParts } from './event-body.js';
export type { BodyEncoding, LogPosition };

/**
 * One agent's current projection (`agent_states`, one row per agent). The
 * projector writes it with a version guard, so a redelivered batch never
 * moves an agent back (DESIGN.md Invariant 4).
 */
export interface StoredState {
  instanceId: string;
  /** Head version: the last accepted event's version (Invariant 1). */
  version: number;
  /** Current writer epoch (Invariant 3). */
  epoch: number;
  /** SHA-256 of the canonical JSON of the state (Invariant 2). */
  checksum: string;
  /** `state.agentType` and `state.status` when they are strings (indexed columns), else null. */
  agentType: string | null;
  status: string | null;
  /** The seed's sections as queryable fields ({@link splitState}). */
  fields: StateFields;
  /** Who made the last change: the `source` of the last accepted event (the seed's `modifiedBy`). */
  modifiedBy: string | null;
  encoding: BodyEncoding;
  /**
   * Inline: the encoded residual ({@link splitState}); the state is
   * `joinState(fields, decode(body))`. Null when the whole state is in the
   * blob store under `blobKey` (claim check); that blob is the full state.
   */
  body: Buffer | null;
  blobKey: string | null;
  /** The event this projection reflects: its position, id, type and time. */
  position: LogPosition;
  lastEventId: string;
  lastEventType: string;
  /** Timestamp (ms) of the last accepted event. */
  updatedAt: number;
  /** Timestamp (ms) of the first event. */
  createdAt: number;
}

/** One accepted event in the queryable mirror (`state_events`), unique by (instanceId, version). */
export interface StoredEvent {
  instanceId: string;
  version: number;
  epoch: number;
  eventId: string;
  eventType: string;
  /** Event timestamp, ms. */
  timestamp: number;
  /** The event's `stateChecksum`. */
  stateChecksum: string;
  position: LogPosition;
  /** The whole event as canonical JSON UTF-8. */
  body: Buffer;
  /** `body` already parsed, when the writer has it: an adapter that needs the fields reads them here instead of parsing `body` again. Never returned by reads. */
  parsed?: JsonObject;
  /** `body` in parts (event-body.ts), when the writer made it from them: an adapter that keeps the changeset apart from the rest of the body reads them here. Never returned by reads. */
  parts?: EventBodyParts;
}

export type SnapshotType = 'full' | 'incremental' | 'checkpoint';

/** Metadata of one snapshot (`state_snapshots`); its framed body is in the blob store under `blobKey`. */
export interface SnapshotRecord {
  /** Deterministic (`<instanceId>:<version>:<type>`), so a retried snapshot is the same record. */
  snapshotId: string;
  instanceId: string;
  version: number;
  epoch: number;
  type: SnapshotType;
  /** For `incremental`: the snapshot the delta applies to. */
  baseSnapshotId: string | null;
  /** Checksum of the state at `version` (verified on restore, Invariant 6). */
  stateChecksum: string;
  /** SHA-256 of the compressed body frame: the stored bytes, or what decrypting them gives when encrypted. */
  bodyChecksum: string;
  blobKey: string;
  encoding: BodyEncoding;
  /** Why it was taken: `policy:events`, `policy:bytes`, `manual`, `migration`, ... (the seed's `trigger` is derived from it: {@link seedTrigger}). */
  trigger: string;
  /** Milliseconds it took to create (the seed's `creationTime`). */
  creationMs: number;
  /** The service that created it (the seed's `created_by`). */
  createdBy: string;
  /** Timestamp (ms) of the event at `version`. */
  stateTimestamp: number;
  createdAt: number;
  /** Retention: deleted by cleanup after this time (ms); null = no expiry. */
  expiresAt: number | null;
  /** Never deleted by retention. */
  permanent: boolean;
  /** Never deleted by retention; flagged for operators. */
  critical: boolean;
}

/** Outcome of {@link StateStore.writeBatch}. */
export interface WriteResult {
  /** State rows inserted or moved forward. */
  statesWritten: number;
  /** State rows left alone because the store already had that version or a newer one. */
  statesSkipped: number;
  /** Event rows inserted. */
  eventsInserted: number;
  /** Event rows already present (redelivery). */
  eventsExisting: number;
}

/** A query on the event mirror. Every bound is inclusive. */
export interface EventQuery {
  instanceId: string;
  fromVersion?: number;
  toVersion?: number;
  /** ms */
  fromTime?: number;
  /** ms */
  toTime?: number;
  eventTypes?: string[];
  /** @default 'asc' (by version) */
  order?: 'asc' | 'desc';
  /** @default no limit */
  limit?: number;
}

/** Which snapshot to find: the newest one matching every given bound. */
export interface SnapshotQuery {
  /** Version at or below. */
  atOrBeforeVersion?: number;
  /** State timestamp at or below (ms). */
  atOrBeforeTime?: number;
  types?: SnapshotType[];
}

/** The seed's snapshot trigger for one of ours: `policy:*` → scheduled; `manual`, `migration` as they are; anything else → event. */
export function seedTrigger(trigger: string): 'scheduled' | 'manual' | 'event' | 'migration' {
  if (trigger === 'policy' || trigger.startsWith('policy:')) return 'scheduled';
  if (trigger === 'manual' || trigger === 'migration') return trigger;
  if (trigger.startsWith('migration:')) return 'migration';
  return 'event';
}

/** Which agents {@link StateStore.query} returns; every given criterion must hold. */
export interface StateFilter {
  /** `status` equals this. */
  status?: string;
  /** `capabilities` contains this string. */
  capability?: string;
  agentType?: string;
  /** Last change at or after this time (ms). */
  updatedSince?: number;
  /** Page size, 1..1000. @default 100 */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** One agent as {@link StateStore.query} lists it (no body: cheap to list thousands). */
export interface AgentSummary {
  instanceId: string;
  version: number;
  epoch: number;
  checksum: string;
  agentType: string | null;
  status: string | null;
  /** The string items of `capabilities`. */
  capabilities: string[];
  lastEventType: string;
  updatedAt: number;
  createdAt: number;
}

/** A page of agents in `instanceId` order; `nextCursor` is null on the last page. */
export interface QueryPage {
  agents: AgentSummary[];
  nextCursor: string | null;
}

/** Row counts, for `agentstate status`. */
export interface StoreCounts {
  agents: number;
  events: number;
  snapshots: number;
  /** The highest `version` in `agent_states` (0 when empty): an index read, never a scan. */
  maxVersion: number;
}

/**
 * Which log a store projects (issue 12 §3): written by the first projector
 * that writes to the store, checked by every later one and by `agentstate doctor`.
 */
export interface LogBinding {
  /** The log's `identity()`: `sqlite:<uuid>` or `kafka:<cluster id>`. */
  logId: string;
  /** The events topic the store projects. */
  topic: string;
  /** When the binding was written (ms since the epoch). */
  boundAt: number;
}

export interface StateStore {
  /** Creates tables/collections and indexes. Idempotent. */
  setup(): Promise<void>;
  /**
   * Writes a batch idempotently: event rows insert-if-absent by
   * (instanceId, version); state rows are written only when their version is
   * above the stored one (version-guarded upsert). Events are written before
   * states, so a crash between the two leaves only rows a redelivery rewrites
   * (DESIGN.md Invariant 4).
   */
  writeBatch(batch: { states: StoredState[]; events: StoredEvent[] }): Promise<WriteResult>;
  /** Current projections of the given agents (absent ones are missing from the map). */
  getStates(instanceIds: string[]): Promise<Map<string, StoredState>>;
  getState(instanceId: string): Promise<StoredState | undefined>;
  /** Agent ids in id order, for paging: those strictly after `afterId`. */
  listAgents(options?: { afterId?: string; limit?: number }): Promise<string[]>;
  /**
   * Agents matching a filter, in `instanceId` order, a page at a time.
   * @throws AgentStateError AS_INVALID_INPUT on a bad limit or cursor
   */
  query(filter?: StateFilter): Promise<QueryPage>;
  /** Removes an agent's current projection (its events and snapshots stay). */
  deleteState(instanceId: string): Promise<boolean>;

  queryEvents(query: EventQuery): Promise<StoredEvent[]>;
  /** Deletes mirror rows of an agent below `belowVersion` (the log keeps them: Invariant 5). Returns the count. */
  deleteEvents(instanceId: string, belowVersion: number): Promise<number>;

  /** Inserts or replaces snapshot metadata by `snapshotId` (idempotent). */
  putSnapshot(record: SnapshotRecord): Promise<void>;
  getSnapshot(snapshotId: string): Promise<SnapshotRecord | undefined>;
  /** The newest snapshot (by version) matching the query, if any. */
  findSnapshot(instanceId: string, query?: SnapshotQuery): Promise<SnapshotRecord | undefined>;
  /** An agent's snapshots, newest version first. */
  listSnapshots(instanceId: string): Promise<SnapshotRecord[]>;
  /** Snapshots with `expiresAt <= now` that are neither permanent nor critical, oldest expiry first. */
  expiredSnapshots(now: number, limit?: number): Promise<SnapshotRecord[]>;
  deleteSnapshots(snapshotIds: string[]): Promise<number>;

  counts(): Promise<StoreCounts>;

  /** The log this store projects; undefined before a projector bound it. */
  getLogBinding(): Promise<LogBinding | undefined>;
  /** Records (or replaces) the log this store projects. */
  setLogBinding(binding: LogBinding): Promise<void>;
  /**
   * Per partition, the highest log offset a current state reflects (decimal
   * strings; partitions with no state are absent). A log whose end offset is
   * at or below it is behind the store.
   */
  highestPositions(): Promise<Record<number, string>>;
  /**
   * Deletes every projection, the event mirror, snapshot metadata and the
   * binding: what `--rebuild` does before the projector refolds the log.
   * Returns the ids of the agents whose states were removed (their cache
   * entries must go too).
   */
  clearProjection(): Promise<string[]>;

  /** Safe to call twice; never closes a connection the caller passed in. */
  close(): Promise<void>;
}
