import { InvalidInputError } from '../../errors.js';
import type { AgentSummary, BodyEncoding, LogPosition, SnapshotRecord, SnapshotType, StoredEvent, StoredState } from '../port.js';
import type { StateFields } from '../state-fields.js';

/**
 * Conversions between the port's records and table rows. Every statement
 * that reads runs with safe integers, so INTEGER columns arrive as bigint:
 * offsets become exact decimal strings, the rest (versions, epochs, ms
 * timestamps, sizes: all far below 2^53) become numbers.
 */

type Int = bigint | number;

/** A value bound to a named parameter (better-sqlite3 binds no booleans or undefined). */
type Param = string | number | bigint | Buffer | null;

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/**
 * Parses an offset string into a bigint for an INTEGER column. Only the
 * canonical decimal form is accepted (no leading zeros, no `+`, no `-0`),
 * so what is read back is exactly the string that was written.
 */
export function offsetParam(position: LogPosition, what: string): bigint {
  const value: unknown = position?.offset;
  if (typeof value !== 'string' || !/^(0|-?[1-9]\d{0,18})$/.test(value)) {
    throw new InvalidInputError(what, `offset must be a canonical decimal string of a 64-bit integer, got ${JSON.stringify(value)}`);
  }
  const n = BigInt(value);
  if (n < INT64_MIN || n > INT64_MAX) throw new InvalidInputError(what, `offset ${value} does not fit in 64 bits`);
  return n;
}

function num(value: Int): number {
  return typeof value === 'bigint' ? Number(value) : value;
}

function offset(value: Int): string {
  return typeof value === 'bigint' ? value.toString() : BigInt(value).toString();
}

function flag(value: boolean): number {
  return value ? 1 : 0;
}

interface EncodingColumns {
  algorithm: string;
  original_size: Int;
  stored_size: Int;
}

function encoding(row: EncodingColumns): BodyEncoding {
  return { algorithm: row.algorithm as BodyEncoding['algorithm'], originalSize: num(row.original_size), storedSize: num(row.stored_size) };
}

export interface StateRow extends EncodingColumns {
  instance_id: string;
  version: Int;
  epoch: Int;
  checksum: string;
  agent_type: string | null;
  status: string | null;
  fields: string;
  modified_by: string | null;
  body: Buffer | null;
  blob_key: string | null;
  part: Int;
  off: Int;
  last_event_id: string;
  last_event_type: string;
  updated_at: Int;
  created_at: Int;
}

export function stateParams(s: StoredState): Record<string, Param> {
  return {
    instance_id: s.instanceId,
    version: s.version,
    epoch: s.epoch,
    checksum: s.checksum,
    agent_type: s.agentType,
    status: s.status,
    fields: JSON.stringify(s.fields),
    modified_by: s.modifiedBy,
    algorithm: s.encoding.algorithm,
    original_size: s.encoding.originalSize,
    stored_size: s.encoding.storedSize,
    body: s.body,
    blob_key: s.blobKey,
    part: s.position.partition,
    off: offsetParam(s.position, `state of ${s.instanceId}`),
    last_event_id: s.lastEventId,
    last_event_type: s.lastEventType,
    updated_at: s.updatedAt,
    created_at: s.createdAt,
  };
}

export function fromStateRow(r: StateRow): StoredState {
  return {
    instanceId: r.instance_id,
    version: num(r.version),
    epoch: num(r.epoch),
    checksum: r.checksum,
    agentType: r.agent_type,
    status: r.status,
    fields: JSON.parse(r.fields) as StateFields,
    modifiedBy: r.modified_by,
    encoding: encoding(r),
    body: r.body,
    blobKey: r.blob_key,
    position: { partition: num(r.part), offset: offset(r.off) },
    lastEventId: r.last_event_id,
    lastEventType: r.last_event_type,
    updatedAt: num(r.updated_at),
    createdAt: num(r.created_at),
  };
}

/** The columns `query` reads (no body, no fields but the capabilities). */
export interface SummaryRow {
  instance_id: string;
  version: Int;
  epoch: Int;
  checksum: string;
  agent_type: string | null;
  status: string | null;
  capabilities: string | null;
  last_event_type: string;
  updated_at: Int;
  created_at: Int;
}

export function fromSummaryRow(r: SummaryRow): AgentSummary {
  const caps: unknown = r.capabilities === null ? [] : JSON.parse(r.capabilities);
  return {
    instanceId: r.instance_id,
    version: num(r.version),
    epoch: num(r.epoch),
    checksum: r.checksum,
    agentType: r.agent_type,
    status: r.status,
    capabilities: Array.isArray(caps) ? caps.filter((c): c is string => typeof c === 'string') : [],
    lastEventType: r.last_event_type,
    updatedAt: num(r.updated_at),
    createdAt: num(r.created_at),
  };
}

export interface EventRow {
  instance_id: string;
  version: Int;
  epoch: Int;
  event_id: string;
  event_type: string;
  timestamp: Int;
  state_checksum: string;
  part: Int;
  off: Int;
  body: Buffer;
}

export function eventParams(e: StoredEvent): Record<string, Param> {
  return {
    instance_id: e.instanceId,
    version: e.version,
    epoch: e.epoch,
    event_id: e.eventId,
    event_type: e.eventType,
    timestamp: e.timestamp,
    state_checksum: e.stateChecksum,
    part: e.position.partition,
    off: offsetParam(e.position, `event ${e.instanceId}@${e.version}`),
    body: e.body,
  };
}

export function fromEventRow(r: EventRow): StoredEvent {
  return {
    instanceId: r.instance_id,
    version: num(r.version),
    epoch: num(r.epoch),
    eventId: r.event_id,
    eventType: r.event_type,
    timestamp: num(r.timestamp),
    stateChecksum: r.state_checksum,
    position: { partition: num(r.part), offset: offset(r.off) },
    body: r.body,
  };
}

export interface SnapshotRow extends EncodingColumns {
  snapshot_id: string;
  instance_id: string;
  version: Int;
  epoch: Int;
  type: string;
  base_snapshot_id: string | null;
  state_checksum: string;
  body_checksum: string;
  blob_key: string;
  trigger_reason: string;
  creation_ms: Int;
  created_by: string;
  state_timestamp: Int;
  created_at: Int;
  expires_at: Int | null;
  permanent: Int;
  critical: Int;
}

export function snapshotParams(s: SnapshotRecord): Record<string, Param> {
  return {
    snapshot_id: s.snapshotId,
    instance_id: s.instanceId,
    version: s.version,
    epoch: s.epoch,
    type: s.type,
    base_snapshot_id: s.baseSnapshotId,
    state_checksum: s.stateChecksum,
    body_checksum: s.bodyChecksum,
    blob_key: s.blobKey,
    algorithm: s.encoding.algorithm,
    original_size: s.encoding.originalSize,
    stored_size: s.encoding.storedSize,
    trigger_reason: s.trigger,
    creation_ms: s.creationMs,
    created_by: s.createdBy,
    state_timestamp: s.stateTimestamp,
    created_at: s.createdAt,
    expires_at: s.expiresAt,
    permanent: flag(s.permanent),
    critical: flag(s.critical),
  };
}

export function fromSnapshotRow(r: SnapshotRow): SnapshotRecord {
  return {
    snapshotId: r.snapshot_id,
    instanceId: r.instance_id,
    version: num(r.version),
    epoch: num(r.epoch),
    type: r.type as SnapshotType,
    baseSnapshotId: r.base_snapshot_id,
    stateChecksum: r.state_checksum,
    bodyChecksum: r.body_checksum,
    blobKey: r.blob_key,
    encoding: encoding(r),
    trigger: r.trigger_reason,
    creationMs: num(r.creation_ms),
    createdBy: r.created_by,
    stateTimestamp: num(r.state_timestamp),
    createdAt: num(r.created_at),
    expiresAt: r.expires_at === null ? null : num(r.expires_at),
    permanent: num(r.permanent) !== 0,
    critical: num(r.critical) !== 0,
  };
}

/** Column lists for INSERTs, in the order of the `*Params` objects above. */
export const STATE_COLUMNS = [
  'instance_id',
  'version',
  'epoch',
  'checksum',
  'agent_type',
  'status',
  'fields',
  'modified_by',
  'algorithm',
  'original_size',
  'stored_size',
  'body',
  'blob_key',
  'part',
  'off',
  'last_event_id',
  'last_event_type',
  'updated_at',
  'created_at',
] as const;
export const EVENT_COLUMNS = ['instance_id', 'version', 'epoch', 'event_id', 'event_type', 'timestamp', 'state_checksum', 'part', 'off', 'body'] as const;
export const SNAPSHOT_COLUMNS = [
  'snapshot_id',
  'instance_id',
  'version',
  'epoch',
  'type',
  'base_snapshot_id',
  'state_checksum',
  'body_checksum',
  'blob_key',
  'algorithm',
  'original_size',
  'stored_size',
  'trigger_reason',
  'creation_ms',
  'created_by',
  'state_timestamp',
  'created_at',
  'expires_at',
  'permanent',
  'critical',
] as const;
