import type { StateEvent } from './event.js';
import { isStateEventType } from './event-types.js';

/** The projected head of one agent: the last accepted version and the current writer epoch. */
export interface Head {
  version: number;
  epoch: number;
}

/**
 * Why an event is rejected (it goes to the DLQ with this reason, never applied):
 * - `gap`: its version is beyond head + 1 (an event is missing);
 * - `duplicate`: its version is at or below the head (already applied or superseded);
 * - `stale_epoch`: its writer epoch is below the head's (a fenced writer), or an
 *   `ownership_acquired` that does not raise the epoch;
 * - `epoch_not_acquired`: its epoch is above the head's but it is not the
 *   `ownership_acquired` event that raises it (the fence must be taken in the log);
 * - `checksum_mismatch`: the state after it does not hash to its `stateChecksum`;
 * - `invalid_changeset`: its changeset does not apply (bad path, wrong op);
 * - `unknown_type`: its event type is not one this code knows.
 */
export type RejectReason = 'gap' | 'duplicate' | 'stale_epoch' | 'epoch_not_acquired' | 'checksum_mismatch' | 'invalid_changeset' | 'unknown_type';

/** Outcome of {@link decide}: a discriminated union callers branch on (STYLE.md habit 4). */
export type Decision = { accept: true } | { accept: false; reason: RejectReason };

/**
 * Order and fencing rules, a pure function of the head and the event, so the
 * projector and every replay decide the same for the same log (DESIGN.md
 * Invariants 1 and 3). The checksum is checked after applying, by `step`.
 *
 * - No head: only version 1 is accepted (any epoch; it becomes the head's).
 * - Version must be exactly head + 1; lower is a duplicate, higher a gap.
 * - `ownership_acquired` must carry an epoch strictly above the head's.
 * - Any other event must carry exactly the head's epoch.
 */
export function decide(head: Head | undefined, event: Pick<StateEvent, 'version' | 'writerEpoch' | 'eventType'>): Decision {
  if (!isStateEventType(event.eventType)) return reject('unknown_type');
  const expected = head === undefined ? 1 : head.version + 1;
  // Duplicates are checked before the epoch: a redelivered old event is a
  // duplicate, whatever its epoch (Invariant 4, effectively once).
  if (event.version < expected) return reject('duplicate');
  if (event.version > expected) return reject('gap');
  if (head === undefined) return { accept: true };
  if (event.eventType === 'ownership_acquired') {
    return event.writerEpoch > head.epoch ? { accept: true } : reject('stale_epoch');
  }
  if (event.writerEpoch < head.epoch) return reject('stale_epoch');
  if (event.writerEpoch > head.epoch) return reject('epoch_not_acquired');
  return { accept: true };
}

function reject(reason: RejectReason): Decision {
  return { accept: false, reason };
}
