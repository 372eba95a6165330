import { parseJson, canonicalJson, type StateEvent } from '../domain/index.js';
import { DecodeError } from '../errors.js';
import { isEventShaped } from './event-wire.js';
import type { Heartbeat } from '../domain/heartbeat.js';

/** Turns events into log record values and back. Avro + registry on Kafka; JSON where no registry exists. */
export interface EventCodec {
  encode(event: StateEvent): Promise<Buffer>;
  decode(value: Buffer): Promise<StateEvent>;
  /** Value of a heartbeat record. */
  encodeHeartbeat(heartbeat: Heartbeat): Promise<Buffer>;
}

/** Canonical JSON bytes: self-describing, used by the embedded profile. */
export class JsonEventCodec implements EventCodec {
  async encode(event: StateEvent): Promise<Buffer> {
    return Buffer.from(canonicalJson(event), 'utf8');
  }

  async encodeHeartbeat(heartbeat: Heartbeat): Promise<Buffer> {
    return Buffer.from(canonicalJson(heartbeat), 'utf8');
  }

  async decode(value: Buffer): Promise<StateEvent> {
    const parsed = parseJson(value.toString('utf8'), 'event');
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new DecodeError('event record', 'not a JSON object');
    }
    if (!isEventShaped(parsed)) throw new DecodeError('event record', 'not a StateEvent (a heartbeat or another record kind?)');
    // `replayable` arrived after the first JSON records; absent means replayable.
    const event = parsed as unknown as StateEvent;
    if (typeof event.replayable !== 'boolean') event.replayable = true;
    return event;
  }
}
