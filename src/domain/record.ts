import type { StateEvent } from './event.js';

/** What a reader needs of a log record (the log port's record has more). */
export interface EventRecordLike {
  key: string;
  value: Buffer | null;
}

/** Why a record is refused before any event rule applies (see `RejectReason` for the rules). */
export type RecordRejectReason = 'undecodable' | 'wrong_key';

/** What one record of the events topic is, to every reader. */
export type RecordReading = { kind: 'tombstone' } | { kind: 'rejected'; reason: RecordRejectReason; detail: string; event?: StateEvent } | { kind: 'event'; event: StateEvent };

/**
 * Reads one events-topic record the same way everywhere: the projector, the
 * writer's view, the CLI, replay and verification (issue 12: "one reading of
 * the log"). A record whose bytes do not decode is `undecodable`; one whose
 * key is not its event's `instanceId` is `wrong_key` (it sits in another
 * agent's partition order, so applying it would fork the two readers). Both
 * are reported and skipped, never thrown, so one bad record cannot stop a
 * reader. What follows is `step`'s decision (order, fencing, checksum).
 */
export async function readEventRecord(record: EventRecordLike, decode: (value: Buffer) => Promise<StateEvent>): Promise<RecordReading> {
  if (record.value === null) return { kind: 'tombstone' };
  let event: StateEvent;
  try {
    event = await decode(record.value);
  } catch (err) {
    return { kind: 'rejected', reason: 'undecodable', detail: cleanMessage(err) };
  }
  if (event.instanceId !== record.key) {
    return { kind: 'rejected', reason: 'wrong_key', detail: `record key ${record.key}, event instanceId ${String(event.instanceId)}`, event };
  }
  return { kind: 'event', event };
}

/** One line, bounded: a DLQ detail or a log field, never a stack or a raw multi-line dump. */
export function cleanMessage(err: unknown, max = 500): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
