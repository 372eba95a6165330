import type { BlobStore } from '../blob/port.js';
import { readEventRecord, step, type EventReader, type JsonValue, type Projection, type RecordReading } from '../domain/index.js';
import { NotFoundError } from '../errors.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import type { StateStore, StoredEvent } from '../store/port.js';

/** An event the replay could not apply, and why (the projector sent it to the DLQ for the same reason). */
export interface ReplayError {
  version: number;
  eventId: string;
  reason: string;
  detail?: string;
}

/**
 * Reads a mirror row back into its event through the one reading of the log
 * (`readEventRecord`): the row's body is the event's canonical JSON as the
 * projector accepted it, a claim-checked changeset still a reference, which
 * `reader` resolves (a JSON event codec over the deployment's blob store).
 */
export function readMirrorRow(row: StoredEvent, reader: EventReader): Promise<RecordReading> {
  return readEventRecord({ key: row.instanceId, value: row.body }, reader);
}

/**
 * The projection at `version`: the nearest snapshot at or before it, then the
 * mirrored events after it, each checked by the domain `step` (so every
 * step's checksum is verified: DESIGN.md Invariants 2, 6). Also returns the
 * `stateChecksum` the mirror records for `version` itself (`recorded`), read
 * with the others: the events are read from the snapshot's own version on, so
 * the row of `version` is among them even when the snapshot sits at it.
 *
 * Round trips: the snapshot lookup and the events from where the snapshot
 * policy puts the last snapshot (`snapshotter.policy.everyEvents`; the
 * manager's policy must match the projector's) are read together, then the
 * snapshot body is loaded. Only when the snapshot is older than the policy
 * says (expired, deleted, another policy, none) are the events between read
 * in a second query.
 * @throws NotFoundError when the agent never reached `version` or history is missing
 */
export async function projectAt(
  store: StateStore,
  snapshotter: Snapshotter,
  reader: EventReader,
  instanceId: string,
  version: number,
): Promise<{ projection: Projection; fromSnapshot: string | null; errors: ReplayError[]; recorded: string | undefined }> {
  const every = snapshotter.policy.everyEvents;
  const expected = every > 0 ? version - (version % every) : 0;
  const [snap, tail] = await Promise.all([store.findSnapshot(instanceId, { atOrBeforeVersion: version }), store.queryEvents({ instanceId, fromVersion: Math.max(1, expected), toVersion: version })]);
  const base = snap?.version ?? 0;
  // The snapshot body (blob store) and any events between it and the expected one (store) are independent reads.
  const [state, head] = await Promise.all([snap ? snapshotter.load(snap) : undefined, base < expected ? store.queryEvents({ instanceId, fromVersion: Math.max(1, base), toVersion: expected - 1 }) : []]);
  const rows = head.length > 0 ? [...head, ...tail] : tail;
  let projection: Projection | undefined = snap ? { version: snap.version, epoch: snap.epoch, state: state!, checksum: snap.stateChecksum } : undefined;
  const errors: ReplayError[] = [];
  let recorded: string | undefined;
  for (const row of rows) {
    if (row.version === version) recorded = row.stateChecksum;
    // The snapshot's own version: already in the state it holds.
    if (row.version <= base) continue;
    const reading = await readMirrorRow(row, reader);
    if (reading.kind === 'tombstone') continue;
    if (reading.kind === 'rejected') {
      errors.push({ version: row.version, eventId: row.eventId, reason: reading.reason, detail: reading.detail });
      continue;
    }
    const event = reading.event;
    const r = step(projection, event);
    if (r.accept) projection = r.projection;
    else errors.push({ version: event.version, eventId: event.eventId, reason: r.reason, ...(r.detail === undefined ? {} : { detail: r.detail }) });
  }
  if (!projection || projection.version !== version) {
    throw new NotFoundError(`version ${version} of agent ${instanceId} (history reaches ${projection?.version ?? 0})`);
  }
  return { projection, fromSnapshot: snap?.snapshotId ?? null, errors, recorded };
}

/** The version in force at time `t` (the last event at or before it). @throws NotFoundError when the agent did not exist yet */
export async function versionAtTime(store: StateStore, instanceId: string, t: number): Promise<number> {
  const [last] = await store.queryEvents({ instanceId, toTime: t, order: 'desc', limit: 1 });
  if (!last) throw new NotFoundError(`state of agent ${instanceId} at ${new Date(t).toISOString()}`);
  return last.version;
}

/** Fetches a claim-checked or inline body. */
export async function bodyBytes(blobs: BlobStore, body: Buffer | null, blobKey: string | null, what: string): Promise<Buffer> {
  if (body !== null) return body;
  if (blobKey === null) throw new NotFoundError(`body of ${what}`);
  const got = await blobs.get(blobKey);
  if (!got) throw new NotFoundError(`claim-checked body ${blobKey}`);
  return got;
}

export type { JsonValue };
