import type { Change } from '../domain/changeset.js';
import { canonicalJson, parseJson, type JsonValue } from '../domain/json.js';
import type { ChangesetRef, StateEvent } from '../domain/event.js';
import type { StateEventType } from '../domain/event-types.js';
import { epoch, instanceId, version } from '../domain/ids.js';
import { AgentStateError } from '../errors.js';
import { DecodeError } from './errors.js';

/** A `StateChange` as it is on the wire (`schemas/StateEvent.avsc`): values are canonical JSON or null for absent. */
export interface WireChange {
  path: string;
  op: 'create' | 'update' | 'delete';
  oldValue: string | null;
  newValue: string | null;
  /** Absent in records written before the field existed (decoded with their writer schema). */
  oldBytes?: number | null;
}

/** A `StateEvent` record as avsc reads and writes it. */
export interface WireStateEvent {
  eventId: string;
  instanceId: string;
  version: number;
  writerEpoch: number;
  timestamp: number;
  eventType: string;
  source: string;
  causationId: string | null;
  correlationId: string | null;
  changeset: WireChange[];
  encryptedChangeset: Buffer | null;
  metadata: Record<string, string>;
  stateChecksum: string;
  replay: { isReplay: boolean; originalEventId: string | null; replayedAt: number | null } | null;
  replayable: boolean;
  /** Absent in records written before the field existed. */
  changesetRef?: ChangesetRef | null;
}

/** Changeset values travel as canonical JSON strings, so any language reads them without an Avro JSON type. */
export function changeToWire(change: Change): WireChange {
  return {
    path: change.path,
    op: change.op,
    oldValue: change.oldValue === undefined ? null : canonicalJson(change.oldValue),
    newValue: change.newValue === undefined ? null : canonicalJson(change.newValue),
    oldBytes: change.oldBytes ?? null,
  };
}

/** Inverse of {@link changeToWire}. @throws InvalidInputError when a value is not JSON */
export function changeFromWire(wire: WireChange): Change {
  const change: Change = { path: wire.path, op: wire.op };
  if (wire.oldValue !== null) change.oldValue = parseJson(wire.oldValue, `oldValue at ${wire.path}`);
  if (wire.newValue !== null) change.newValue = parseJson(wire.newValue, `newValue at ${wire.path}`);
  if (wire.oldBytes !== null && wire.oldBytes !== undefined) change.oldBytes = wire.oldBytes;
  return change;
}

/**
 * Domain event → Avro record. With `encryptedChangeset`, the plain changeset is
 * left empty: the sealed bytes carry it (crypto-shredding, DESIGN.md Security).
 */
export function eventToWire(event: StateEvent, encryptedChangeset: Buffer | null = null): WireStateEvent {
  return {
    eventId: event.eventId,
    instanceId: event.instanceId,
    version: event.version,
    writerEpoch: event.writerEpoch,
    timestamp: event.timestamp,
    eventType: event.eventType,
    source: event.source,
    causationId: event.causationId,
    correlationId: event.correlationId,
    changeset: encryptedChangeset === null && event.changesetRef === undefined ? event.changeset.map(changeToWire) : [],
    encryptedChangeset,
    metadata: event.metadata,
    stateChecksum: event.stateChecksum,
    replay: event.replay,
    replayable: event.replayable,
    changesetRef: event.changesetRef ?? null,
  };
}

/**
 * Avro record → domain event. The event type is passed through unchecked:
 * an unknown one is rejected by `decide` with reason `unknown_type`, so it
 * reaches the DLQ with that reason instead of crashing the consumer.
 * When the record is sealed, pass `openChangeset` to decrypt it.
 * @throws DecodeError when ids, versions or changeset values are malformed
 */
export function eventFromWire(wire: WireStateEvent, openChangeset?: (sealed: Buffer) => Change[]): StateEvent {
  // A record of another schema (a Heartbeat appended to the events topic) decodes
  // as Avro but is not an event: say so, instead of a TypeError from its fields.
  if (!isEventShaped(wire)) throw new DecodeError('event', 'the record is not a StateEvent (another schema was used to write it)');
  try {
    let changeset: Change[];
    if (wire.encryptedChangeset !== null && wire.encryptedChangeset !== undefined) {
      if (openChangeset === undefined) throw new DecodeError('event', `event ${wire.eventId} has an encrypted changeset and no key was given`);
      changeset = openChangeset(wire.encryptedChangeset);
    } else changeset = wire.changeset.map(changeFromWire);
    const event: StateEvent = {
      eventId: wire.eventId,
      instanceId: instanceId(wire.instanceId),
      version: version(wire.version),
      writerEpoch: epoch(wire.writerEpoch),
      timestamp: wire.timestamp,
      eventType: wire.eventType as StateEventType,
      source: wire.source,
      causationId: wire.causationId,
      correlationId: wire.correlationId,
      changeset,
      metadata: wire.metadata,
      stateChecksum: wire.stateChecksum,
      replay: wire.replay,
      replayable: wire.replayable,
    };
    const ref = wire.changesetRef;
    if (ref !== null && ref !== undefined) event.changesetRef = { blobKey: ref.blobKey, sha256: ref.sha256, bytes: Number(ref.bytes), changes: Number(ref.changes) };
    return event;
  } catch (error) {
    if (error instanceof DecodeError || !(error instanceof AgentStateError) || error.code === 'AS_KEY' || error.code === 'AS_KEY_DESTROYED') throw error;
    throw new DecodeError(`event ${wire.eventId}`, error.message, { cause: error });
  }
}

/** True when a decoded record has the fields every event has (Avro or JSON): a record of another schema does not. */
export function isEventShaped(w: unknown): boolean {
  if (typeof w !== 'object' || w === null) return false;
  const r = w as Record<string, unknown>;
  return (
    typeof r.eventId === 'string' &&
    typeof r.instanceId === 'string' &&
    typeof r.eventType === 'string' &&
    typeof r.stateChecksum === 'string' &&
    Array.isArray(r.changeset) &&
    typeof r.metadata === 'object' &&
    r.metadata !== null
  );
}

/** Serialises a changeset for sealing (canonical JSON, so equal changesets seal equal plaintexts). */
export function changesetToJson(changes: readonly Change[]): string {
  return canonicalJson(changes as unknown as JsonValue);
}

/** Inverse of {@link changesetToJson}. @throws DecodeError when it is not a changeset */
export function changesetFromJson(text: string): Change[] {
  const value = parseJson(text, 'sealed changeset');
  if (!Array.isArray(value)) throw new DecodeError('sealed changeset', 'not a JSON array');
  return value as unknown as Change[];
}
