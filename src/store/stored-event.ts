import type { StateEvent } from '../domain/index.js';
import type { LogPosition } from '../log/port.js';
import type { StoredEvent } from './port.js';

/**
 * The mirror's record of an accepted event read at `position`, with its exact
 * canonical JSON `body`, and `parsed` / `parts` when the writer has them.
 */
export function storedEvent(event: StateEvent, position: LogPosition, body: Buffer, extra: Pick<StoredEvent, 'parsed' | 'parts'> = {}): StoredEvent {
  return {
    instanceId: event.instanceId,
    version: event.version,
    epoch: event.writerEpoch,
    eventId: event.eventId,
    eventType: event.eventType,
    timestamp: event.timestamp,
    stateChecksum: event.stateChecksum,
    position,
    body,
    ...extra,
  };
}
