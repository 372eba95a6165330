import { randomUUID } from 'node:crypto';
import { checksum, diff, type Change, type JsonValue, type Projection, type StateEvent, type StateEventType } from '../domain/index.js';
import type { LogRecord } from '../log/port.js';
import type { StateUpdateResult } from './types.js';
import { HEADER } from './tail.js';

export interface EventDraft {
  instanceId: string;
  head: Projection | undefined;
  next: JsonValue;
  epoch: number;
  eventType: StateEventType;
  source: string;
  causationId?: string | undefined;
  correlationId?: string | undefined;
  metadata?: Record<string, string> | undefined;
  /** @default true */
  replayable?: boolean | undefined;
  /** The changes when the caller gave them; else diffed from the head. */
  changes?: Change[] | undefined;
}

/** The event moving `head` to `next`, and the projection the log will hold once it accepts it. */
export function buildEvent(d: EventDraft): { event: StateEvent; expected: Projection } {
  const version = (d.head?.version ?? 0) + 1;
  const sum = checksum(d.next);
  const event: StateEvent = {
    eventId: randomUUID(),
    instanceId: d.instanceId as StateEvent['instanceId'],
    version: version as StateEvent['version'],
    writerEpoch: d.epoch as StateEvent['writerEpoch'],
    timestamp: Date.now(),
    eventType: d.eventType,
    source: d.source,
    causationId: d.causationId ?? null,
    correlationId: d.correlationId ?? null,
    changeset: d.changes ?? diff(d.head?.state ?? {}, d.next),
    metadata: d.metadata ?? {},
    stateChecksum: sum,
    replay: null,
    replayable: d.replayable ?? true,
  };
  return { event, expected: { version, epoch: d.epoch, state: d.next, checksum: sum } };
}

/**
 * The log record of an event: keyed by agent, with the headers a reader
 * decides on without decoding. `stateSizeDelta` (a claim-checked changeset's
 * estimated state-size change, `ChangesetClaimCheck.claimedSizeDelta`) goes
 * in the header of that name, for analytics (docs/analytics.md, State size).
 */
export function eventRecord(event: StateEvent, value: Buffer, stateSizeDelta?: number): LogRecord {
  return {
    key: event.instanceId,
    value,
    headers: {
      [HEADER.eventId]: event.eventId,
      [HEADER.version]: String(event.version),
      [HEADER.epoch]: String(event.writerEpoch),
      [HEADER.type]: event.eventType,
      ...(stateSizeDelta !== undefined ? { [HEADER.stateSizeDelta]: String(stateSizeDelta) } : {}),
    },
    timestamp: event.timestamp,
  };
}

/** The seed's StateUpdateResult for an accepted event. */
export function updateResult(head: Projection | undefined, projection: Projection, changes: Change[], event: StateEvent, started: number): StateUpdateResult {
  return {
    success: true,
    newVersion: projection.version,
    previousVersion: head?.version ?? 0,
    appliedChanges: changes,
    generatedEvents: [event],
    checksum: projection.checksum,
    processingTime: performance.now() - started,
  };
}
