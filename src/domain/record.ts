import type { Change } from './changeset.js';
import type { ChangesetRef, StateEvent } from './event.js';
import { AgentStateError, ConfigError } from '../errors.js';

/** What a reader needs of a log record (the log port's record has more). */
export interface EventRecordLike {
  key: string;
  value: Buffer | null;
}

/** Why a record is refused before any event rule applies (see `RejectReason` for the rules). */
export type RecordRejectReason = 'undecodable' | 'wrong_key' | 'changeset_missing' | 'changeset_mismatch';

/**
 * How a reader turns record bytes into an event. `resolveChangeset` fetches a
 * claim-checked changeset (src/codec/changeset-blob.ts) and verifies it: it
 * throws `AS_NOT_FOUND` when the blob is gone and `AS_CHECKSUM_MISMATCH`,
 * `AS_DECODE` or `AS_INVALID_INPUT` when its body or key is not the one the
 * event names; any other error (the blob store unreachable) is not the
 * record's fault and is thrown on, for the reader to retry.
 */
export interface EventReader {
  decode(value: Buffer): Promise<StateEvent>;
  resolveChangeset?(event: StateEvent, ref: ChangesetRef): Promise<Change[]>;
}

/** What one record of the events topic is, to every reader. */
export type RecordReading = { kind: 'tombstone' } | { kind: 'rejected'; reason: RecordRejectReason; detail: string; event?: StateEvent } | { kind: 'event'; event: StateEvent };

/**
 * Reads one events-topic record the same way everywhere: the projector, the
 * writer's view, the CLI, replay and verification (issue 12: "one reading of
 * the log"). A record whose bytes do not decode is `undecodable`; one whose
 * key is not its event's `instanceId` is `wrong_key` (it sits in another
 * agent's partition order, so applying it would fork the two readers). Both
 * are reported and skipped, never thrown, so one bad record cannot stop a
 * reader. A claim-checked changeset (issue 12 §6) is fetched here, once the
 * key is checked: a blob that is gone is `changeset_missing`, one whose body
 * does not match the event's SHA-256 is `changeset_mismatch`; the blob store
 * being unreachable is thrown (retry, not a bad record). What follows is
 * `step`'s decision (order, fencing, checksum).
 * @throws ConfigError when a record is claim-checked and `reader` cannot resolve it (a reader wired without a blob store)
 */
export async function readEventRecord(record: EventRecordLike, reader: EventReader | ((value: Buffer) => Promise<StateEvent>)): Promise<RecordReading> {
  if (record.value === null) return { kind: 'tombstone' };
  const r: EventReader = typeof reader === 'function' ? { decode: reader } : reader;
  let event: StateEvent;
  try {
    event = await r.decode(record.value);
  } catch (err) {
    return { kind: 'rejected', reason: 'undecodable', detail: cleanMessage(err) };
  }
  if (event.instanceId !== record.key) {
    return { kind: 'rejected', reason: 'wrong_key', detail: `record key ${record.key}, event instanceId ${String(event.instanceId)}`, event };
  }
  const ref = event.changesetRef;
  if (ref === undefined || ref === null) return { kind: 'event', event };
  if (r.resolveChangeset === undefined) {
    throw new ConfigError(
      'blobs',
      `event ${event.eventId} of agent ${event.instanceId} has a claim-checked changeset (${ref.blobKey}) and this reader has no blob store to fetch it (the data dir's blobs/ embedded; S3_ENDPOINT and S3_BUCKET on servers)`,
    );
  }
  try {
    return { kind: 'event', event: { ...event, changeset: await r.resolveChangeset.call(r, event, ref) } };
  } catch (err) {
    const code = err instanceof AgentStateError ? err.code : undefined;
    if (code === 'AS_NOT_FOUND') return { kind: 'rejected', reason: 'changeset_missing', detail: cleanMessage(err), event };
    if (code === 'AS_CHECKSUM_MISMATCH' || code === 'AS_DECODE' || code === 'AS_INVALID_INPUT') return { kind: 'rejected', reason: 'changeset_mismatch', detail: cleanMessage(err), event };
    throw err;
  }
}

/** One line, bounded: a DLQ detail or a log field, never a stack or a raw multi-line dump. */
export function cleanMessage(err: unknown, max = 500): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
