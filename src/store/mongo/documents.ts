import { Binary } from 'mongodb';
import type { SnapshotRecord, StoredEvent, StoredState } from '../port.js';

/**
 * `agent_states` document: `_id` = `<instanceId>@<version>`, `instanceId`
 * indexed. Normally one row per agent; see MongoStore.writeBatch for why the
 * version is in the `_id`.
 */
export interface StateDoc extends Omit<StoredState, 'body'> {
  _id: string;
  body: Binary | null;
}

export function stateDocId(instanceId: string, version: number): string {
  return `${instanceId}@${version}`;
}

/** `state_events` document: `_id` = `<instanceId>:<version>`, so a redelivered event is the same row. */
export interface EventDoc extends Omit<StoredEvent, 'body'> {
  _id: string;
  body: Binary;
}

/** `state_snapshots` document: `_id` = snapshotId. */
export interface SnapshotDoc extends Omit<SnapshotRecord, 'snapshotId'> {
  _id: string;
}

export function eventDocId(instanceId: string, version: number): string {
  return `${instanceId}:${version}`;
}

function bytes(value: Binary | Buffer | null | undefined): Buffer | null {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return value;
  return Buffer.from(value.buffer.buffer, value.buffer.byteOffset, value.position);
}

export function toStateDoc(s: StoredState): StateDoc {
  return { _id: stateDocId(s.instanceId, s.version), ...s, body: s.body === null ? null : new Binary(s.body) };
}

export function fromStateDoc(d: StateDoc): StoredState {
  const { _id, body, ...rest } = d;
  void _id;
  return { ...rest, body: bytes(body) };
}

export function toEventDoc(e: StoredEvent): EventDoc {
  return { _id: eventDocId(e.instanceId, e.version), ...e, body: new Binary(e.body) };
}

export function fromEventDoc(d: EventDoc): StoredEvent {
  const { _id, body, ...rest } = d;
  void _id;
  return { ...rest, body: bytes(body)! };
}

export function toSnapshotDoc(r: SnapshotRecord): SnapshotDoc {
  const { snapshotId, ...rest } = r;
  return { _id: snapshotId, ...rest };
}

export function fromSnapshotDoc(d: SnapshotDoc): SnapshotRecord {
  const { _id, ...rest } = d;
  return { snapshotId: _id, ...rest };
}
