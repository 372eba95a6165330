import { checksum } from '../../../src/domain/checksum.js';
import { diff } from '../../../src/domain/changeset.js';
import type { StateEvent } from '../../../src/domain/event.js';
import type { StateEventType } from '../../../src/domain/event-types.js';
import { epoch, instanceId, version } from '../../../src/domain/ids.js';
import type { JsonValue } from '../../../src/domain/json.js';

/** Builds a well-formed event moving `before` to `after`, as a writer would. */
export function eventBetween(before: JsonValue, after: JsonValue, v: number, e = 1, eventType: StateEventType = 'state_patched'): StateEvent {
  return {
    eventId: `evt-${v}-${e}`,
    instanceId: instanceId('agent-1'),
    version: version(v),
    writerEpoch: epoch(e),
    timestamp: 1_700_000_000_000 + v,
    eventType,
    source: 'test',
    causationId: null,
    correlationId: null,
    changeset: diff(before, after),
    metadata: {},
    stateChecksum: checksum(after),
    replay: null,
    replayable: true,
  };
}

/** A log of events through the given states, starting from `{}` at version 1. */
export function logThrough(states: JsonValue[], e = 1): StateEvent[] {
  const events: StateEvent[] = [];
  let prev: JsonValue = {};
  states.forEach((s, i) => {
    events.push(eventBetween(prev, s, i + 1, e));
    prev = s;
  });
  return events;
}
