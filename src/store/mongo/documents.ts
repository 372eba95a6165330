import { Binary, type Filter } from 'mongodb';
import type { CheckedFilter } from '../query.js';
import { canonicalJson, parseJson, type JsonObject, type JsonValue, type StateEvent } from '../../domain/index.js';
import { DecodeError } from '../../errors.js';
import { joinEventBody, splitEventBody, type ChangeText, type EventBodyParts } from '../event-body.js';
import { seedTrigger, type AgentSummary, type BodyEncoding, type LogPosition, type SnapshotRecord, type SnapshotType, type StoredEvent, type StoredState } from '../port.js';
import { sanitise, type StateFields } from '../state-fields.js';
import { escapeKeys, unescapeKeys } from './keys.js';

/**
 * The documents of `agent_states`, `state_events` and `state_snapshots`: the
 * seed's `AgentStateDocument`, `StateEventDocument` and `StateSnapshotDocument`
 * field names, plus ours (docs/store.md). Times the seed types as `Date` are
 * BSON dates; JSON values from agents have their keys escaped (keys.ts).
 */

/** `agent_states`: one document per agent, `_id` = instanceId. */
export interface StateDoc {
  _id: string;
  instanceId: string;
  version: number;
  /** Time of the state's version (the last accepted event). */
  timestamp: Date;
  status?: JsonValue;
  agentType?: JsonValue;
  configuration?: JsonValue;
  capabilities?: JsonValue;
  resourceAllocation?: JsonValue;
  executionState?: JsonValue;
  performance?: JsonValue;
  lastModified: Date;
  modifiedBy: string | null;
  checksum: string;
  compression: { algorithm: BodyEncoding['algorithm']; originalSize: number; compressedSize: number };
  epoch: number;
  position: LogPosition;
  lastEventId: string;
  lastEventType: string;
  createdAt: Date;
  body: Binary | null;
  blobKey: string | null;
}

const SECTIONS = ['status', 'agentType', 'configuration', 'capabilities', 'resourceAllocation', 'executionState', 'performance'] as const;

/** What `query` reads of a state document (never the body or the big sections). */
export const SUMMARY_PROJECTION = {
  _id: 1,
  version: 1,
  epoch: 1,
  checksum: 1,
  agentType: 1,
  status: 1,
  capabilities: 1,
  lastEventType: 1,
  lastModified: 1,
  createdAt: 1,
} as const;

function bytes(value: Binary | Buffer | null | undefined): Buffer | null {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return value;
  return Buffer.from(value.buffer.buffer, value.buffer.byteOffset, value.position);
}

export function toStateDoc(s: StoredState): StateDoc {
  const doc: StateDoc = {
    _id: s.instanceId,
    instanceId: s.instanceId,
    version: s.version,
    timestamp: new Date(s.updatedAt),
    lastModified: new Date(s.updatedAt),
    modifiedBy: s.modifiedBy,
    checksum: s.checksum,
    compression: { algorithm: s.encoding.algorithm, originalSize: s.encoding.originalSize, compressedSize: s.encoding.storedSize },
    epoch: s.epoch,
    position: s.position,
    lastEventId: s.lastEventId,
    lastEventType: s.lastEventType,
    createdAt: new Date(s.createdAt),
    body: s.body === null ? null : new Binary(s.body),
    blobKey: s.blobKey,
  };
  const f = s.fields as Record<string, JsonValue | undefined>;
  for (const key of SECTIONS) {
    const value = f[key];
    if (value !== undefined) doc[key] = escapeKeys(value);
  }
  return doc;
}

export function fromStateDoc(d: StateDoc): StoredState {
  const fields: Record<string, JsonValue> = {};
  for (const key of SECTIONS) if (d[key] !== undefined) fields[key] = unescapeKeys(d[key]);
  return {
    instanceId: d.instanceId,
    version: d.version,
    epoch: d.epoch,
    checksum: d.checksum,
    agentType: typeof d.agentType === 'string' ? d.agentType : null,
    status: typeof d.status === 'string' ? d.status : null,
    fields: fields as StateFields,
    modifiedBy: d.modifiedBy ?? null,
    encoding: { algorithm: d.compression.algorithm, originalSize: d.compression.originalSize, storedSize: d.compression.compressedSize },
    body: bytes(d.body),
    blobKey: d.blobKey,
    position: d.position,
    lastEventId: d.lastEventId,
    lastEventType: d.lastEventType,
    updatedAt: d.lastModified.getTime(),
    createdAt: d.createdAt.getTime(),
  };
}

/** The `agent_states` filter of a checked query. */
export function summaryFilter(f: CheckedFilter): Filter<StateDoc> {
  const q: Filter<StateDoc> = {};
  if (f.status !== undefined) q.status = f.status;
  if (f.agentType !== undefined) q.agentType = f.agentType;
  if (f.capability !== undefined) q.capabilities = f.capability;
  if (f.updatedSince !== undefined) q.lastModified = { $gte: new Date(f.updatedSince) };
  if (f.afterId !== undefined) q._id = { $gt: f.afterId };
  return q;
}

export function summaryOf(d: Pick<StateDoc, keyof typeof SUMMARY_PROJECTION>): AgentSummary {
  const caps = Array.isArray(d.capabilities) ? d.capabilities.filter((c): c is string => typeof c === 'string') : [];
  return {
    instanceId: d._id,
    version: d.version,
    epoch: d.epoch,
    checksum: d.checksum,
    agentType: typeof d.agentType === 'string' ? d.agentType : null,
    status: typeof d.status === 'string' ? d.status : null,
    capabilities: caps,
    lastEventType: d.lastEventType,
    updatedAt: d.lastModified.getTime(),
    createdAt: d.createdAt.getTime(),
  };
}

/**
 * One item of the seed's `eventData.changeset`: `field` is our JSON Pointer
 * path, `changeType` our op, and `oldValue`/`newValue` the value's canonical
 * JSON text (a string for every value: `"running"` for a string, `3` for a
 * number, `{"id":"m1"}` for an object), absent when the op has none;
 * `oldBytes` the size of an old value the writer left out of the event.
 *
 * Text, not nested documents: FerretDB 1.24 on PostgreSQL converts every
 * nested field of a document on its own, and the mirror is the projector's
 * largest write. Chat-window events (a ~1 KB message object in and one out
 * per event) took ~0.56 ms of FerretDB + PostgreSQL CPU a row with nested
 * values, ~0.48 ms as text (issue 11, 5,000 rows, lz4 TOAST). One uniform rule
 * keeps the view unambiguous (an object and a string that looks like one
 * never collide) and needs no key escaping. Being exact text, it is also the
 * changeset of the event's exact body (`bodyRest`, below).
 */
export type ChangeDoc = ChangeText;

/**
 * `state_events`: `_id` = `<instanceId>:<version>`, so a redelivered event is
 * the same document. The event's exact canonical JSON (the copy time travel
 * and checksums use) is kept once, in one of two forms (docs/store.md):
 * - `bodyRest`: the canonical JSON with `"changeset":[]`, whose changeset is
 *   `eventData.changeset` (event-body.ts splices it back): the form written
 *   since issue 11's leaner rows, for every event whose changes it rebuilds
 *   exactly;
 * - `body` (Binary): the whole canonical JSON, for the rest (a claim-checked
 *   changeset: the reference; a change with `oldBytes`) and in rows written
 *   before.
 * `eventData` is the query view (`changeset` values as JSON text, `metadata`
 * with keys escaped and strings sanitised).
 */
export interface EventDoc {
  _id: string;
  eventId: string;
  instanceId: string;
  sequenceNumber: number;
  eventType: string;
  timestamp: Date;
  eventData: { changeset: ChangeDoc[]; metadata: JsonValue };
  causationId: string | null;
  correlationId: string | null;
  source: string | null;
  version: number;
  replayable: boolean;
  replayAttempts: number;
  lastReplayed: Date | null;
  epoch: number;
  stateChecksum: string;
  position: LogPosition;
  bodyRest?: string;
  body?: Binary;
}

export function eventDocId(instanceId: string, version: number): string {
  return `${instanceId}:${version}`;
}

/** Reads the seed fields out of the stored canonical event; a body that is not an event object still stores (as an empty view). */
function eventView(body: Buffer): JsonObject {
  try {
    const v = parseJson(body.toString('utf8'), 'stored event');
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}

const str = (v: JsonValue | undefined): string | null => (typeof v === 'string' ? v : null);

/** The metadata for the query view: keys escaped, strings sanitised (the body keeps the exact value). */
const view = (v: JsonValue): JsonValue => escapeKeys(sanitise(v));

/**
 * The body's parts when the writer did not hand them over: split from the
 * parsed event and kept only when they rebuild `body` exactly (a body that is
 * not this event's canonical JSON stays whole).
 */
function partsOf(e: StoredEvent, ev: JsonObject): EventBodyParts | undefined {
  if (ev.changesetRef !== undefined) return undefined;
  let parts: EventBodyParts | undefined;
  try {
    parts = splitEventBody(ev as unknown as StateEvent);
  } catch {
    return undefined;
  }
  return parts !== undefined && joinEventBody(parts.rest, parts.changes) === e.body.toString('utf8') ? parts : undefined;
}

export function toEventDoc(e: StoredEvent): EventDoc {
  const ev = e.parsed ?? eventView(e.body);
  const parts = e.parts ?? partsOf(e, ev);
  let changeset: ChangeDoc[];
  if (parts !== undefined) changeset = parts.changes;
  else {
    changeset = [];
    if (Array.isArray(ev.changeset)) {
      for (const c of ev.changeset) {
        if (c === null || typeof c !== 'object' || Array.isArray(c)) continue;
        const item: ChangeDoc = { field: str(c.path) ?? '', changeType: str(c.op) ?? '' };
        if (c.oldValue !== undefined) item.oldValue = canonicalJson(c.oldValue);
        if (c.newValue !== undefined) item.newValue = canonicalJson(c.newValue);
        if (typeof c.oldBytes === 'number') item.oldBytes = c.oldBytes;
        changeset.push(item);
      }
    }
  }
  return {
    _id: eventDocId(e.instanceId, e.version),
    eventId: e.eventId,
    instanceId: e.instanceId,
    sequenceNumber: e.version,
    eventType: e.eventType,
    timestamp: new Date(e.timestamp),
    eventData: { changeset, metadata: view(ev.metadata ?? {}) },
    causationId: str(ev.causationId),
    correlationId: str(ev.correlationId),
    source: str(ev.source),
    version: e.version,
    // The log is immutable: replay counters live only in this mirror (EVENTS.md).
    replayable: ev.replayable !== false,
    replayAttempts: 0,
    lastReplayed: null,
    epoch: e.epoch,
    stateChecksum: e.stateChecksum,
    position: e.position,
    ...(parts !== undefined ? { bodyRest: parts.rest } : { body: new Binary(e.body) }),
  };
}

/** The event's exact canonical JSON from either form of row (see {@link EventDoc}). */
function eventBody(d: EventDoc): Buffer {
  const whole = bytes(d.body);
  if (whole !== null) return whole;
  if (typeof d.bodyRest !== 'string') throw new DecodeError(`stored event ${d._id}`, 'it has neither body nor bodyRest');
  return Buffer.from(joinEventBody(d.bodyRest, d.eventData.changeset), 'utf8');
}

export function fromEventDoc(d: EventDoc): StoredEvent {
  return {
    instanceId: d.instanceId,
    version: d.version,
    epoch: d.epoch,
    eventId: d.eventId,
    eventType: d.eventType,
    timestamp: d.timestamp.getTime(),
    stateChecksum: d.stateChecksum,
    position: d.position,
    body: eventBody(d),
  };
}

/**
 * `state_snapshots`: `_id` = snapshotId. The body is in the blob store under
 * `blobKey` (the seed's `stateData`: framed, compressed, checksummed).
 */
export interface SnapshotDoc {
  _id: string;
  snapshotId: string;
  instanceId: string;
  version: number;
  /** Time of the state at `version`. */
  timestamp: Date;
  snapshotType: SnapshotType;
  size: { uncompressed: number; compressed: number; compressionRatio: number };
  creationTime: number;
  created_by: string;
  trigger: 'scheduled' | 'manual' | 'event' | 'migration';
  /** Our trigger as given (`policy:events`, ...). */
  triggerDetail: string;
  retentionPolicy: { expiresAt: Date | null; permanent: boolean; critical: boolean };
  epoch: number;
  baseSnapshotId: string | null;
  stateChecksum: string;
  bodyChecksum: string;
  blobKey: string;
  algorithm: BodyEncoding['algorithm'];
  createdAt: Date;
}

export function toSnapshotDoc(r: SnapshotRecord): SnapshotDoc {
  const { originalSize, storedSize } = r.encoding;
  return {
    _id: r.snapshotId,
    snapshotId: r.snapshotId,
    instanceId: r.instanceId,
    version: r.version,
    timestamp: new Date(r.stateTimestamp),
    snapshotType: r.type,
    size: { uncompressed: originalSize, compressed: storedSize, compressionRatio: storedSize === 0 ? 0 : originalSize / storedSize },
    creationTime: r.creationMs,
    created_by: r.createdBy,
    trigger: seedTrigger(r.trigger),
    triggerDetail: r.trigger,
    retentionPolicy: { expiresAt: r.expiresAt === null ? null : new Date(r.expiresAt), permanent: r.permanent, critical: r.critical },
    epoch: r.epoch,
    baseSnapshotId: r.baseSnapshotId,
    stateChecksum: r.stateChecksum,
    bodyChecksum: r.bodyChecksum,
    blobKey: r.blobKey,
    algorithm: r.encoding.algorithm,
    createdAt: new Date(r.createdAt),
  };
}

export function fromSnapshotDoc(d: SnapshotDoc): SnapshotRecord {
  return {
    snapshotId: d._id,
    instanceId: d.instanceId,
    version: d.version,
    epoch: d.epoch,
    type: d.snapshotType,
    baseSnapshotId: d.baseSnapshotId,
    stateChecksum: d.stateChecksum,
    bodyChecksum: d.bodyChecksum,
    blobKey: d.blobKey,
    encoding: { algorithm: d.algorithm, originalSize: d.size.uncompressed, storedSize: d.size.compressed },
    trigger: d.triggerDetail,
    creationMs: d.creationTime,
    createdBy: d.created_by,
    stateTimestamp: d.timestamp.getTime(),
    createdAt: d.createdAt.getTime(),
    expiresAt: d.retentionPolicy.expiresAt === null ? null : d.retentionPolicy.expiresAt.getTime(),
    permanent: d.retentionPolicy.permanent,
    critical: d.retentionPolicy.critical,
  };
}
