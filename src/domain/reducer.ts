import type { RejectReason } from './acceptance.js';
import { decide } from './acceptance.js';
import { applyChanges } from './changeset.js';
import { checksum } from './checksum.js';
import { InvalidInputError } from './errors.js';
import type { StateEvent } from './event.js';
import { isStateEventType } from './event-types.js';
import type { JsonValue } from './json.js';
import { AgentStateError } from '../errors.js';

/** One agent's projection: head version, writer epoch, state and its checksum. */
export interface Projection {
  version: number;
  epoch: number;
  state: JsonValue;
  checksum: string;
}

/** Outcome of {@link step}. */
export type StepResult = { accept: true; projection: Projection } | { accept: false; reason: RejectReason; detail?: string };

/**
 * The reducer: the state after `event`, which is the event's changeset
 * applied to `state`. Pure and type-independent on purpose: every event type,
 * including rollbacks and erasure, is expressed as a changeset, so any
 * consumer in any language folds the log the same way (DESIGN.md Invariant 2).
 * @throws InvalidInputError for an unknown event type
 * @throws InvalidPathError when the changeset does not apply
 */
export function applyEvent<T extends JsonValue>(state: T, event: Pick<StateEvent, 'eventType' | 'changeset'>): T {
  if (!isStateEventType(event.eventType)) {
    throw new InvalidInputError('event', `unknown event type ${JSON.stringify(event.eventType)}`);
  }
  return applyChanges(state, event.changeset);
}

/**
 * Decide, apply, verify: what the projector and replay do with each event.
 * A rejected event leaves the projection as it was (never half-applied).
 * For the first event (`projection` undefined) the changeset applies to `{}`.
 */
export function step(projection: Projection | undefined, event: StateEvent): StepResult {
  const decision = decide(projection, event);
  if (!decision.accept) return decision;
  let state: JsonValue;
  try {
    state = applyEvent(projection?.state ?? {}, event);
  } catch (error) {
    if (error instanceof AgentStateError) return { accept: false, reason: 'invalid_changeset', detail: error.message };
    throw error;
  }
  let sum: string;
  try {
    sum = checksum(state);
  } catch (error) {
    if (error instanceof AgentStateError) return { accept: false, reason: 'invalid_changeset', detail: error.message };
    throw error;
  }
  if (sum !== event.stateChecksum) {
    return { accept: false, reason: 'checksum_mismatch', detail: `expected ${event.stateChecksum}, computed ${sum}` };
  }
  return { accept: true, projection: { version: event.version, epoch: event.writerEpoch, state, checksum: sum } };
}

/** A rejected event and why, as reported by {@link fold}. */
export interface Rejection {
  event: StateEvent;
  reason: RejectReason;
  detail?: string;
}

/** Outcome of {@link fold}. */
export interface FoldResult {
  projection: Projection | undefined;
  applied: number;
  rejected: Rejection[];
}

/**
 * Folds events in log order onto `from` (a snapshot's projection, or nothing),
 * skipping and reporting rejected ones exactly as the projector would route
 * them to the DLQ. Same log → same result, bytes and all.
 */
export function fold(events: Iterable<StateEvent>, from?: Projection): FoldResult {
  let projection = from;
  let applied = 0;
  const rejected: Rejection[] = [];
  for (const event of events) {
    const result = step(projection, event);
    if (result.accept) {
      projection = result.projection;
      applied++;
    } else {
      rejected.push({ event, reason: result.reason, ...(result.detail === undefined ? {} : { detail: result.detail }) });
    }
  }
  return { projection, applied, rejected };
}
