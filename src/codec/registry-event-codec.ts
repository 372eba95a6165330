import type { StateEvent } from '../domain/index.js';
import type { RegistryCodec } from './registry.js';
import { eventFromWire, eventToWire, type WireStateEvent } from './event-wire.js';
import { loadSchema, valueSubject } from './schemas.js';
import type { EventCodec } from './event-codec.js';
import type { Heartbeat } from '../domain/heartbeat.js';

/**
 * Events as Avro with Confluent framing (magic 0, schema id, body), the schema
 * registered under `<events topic>-value` with BACKWARD compatibility, so any
 * Confluent-ecosystem consumer (Java, Python, Go) reads the topic.
 */
export class RegistryEventCodec implements EventCodec {
  private heartbeatId: Promise<number> | undefined;

  private constructor(
    private readonly registry: RegistryCodec,
    private readonly schemaId: number,
    private readonly heartbeatsTopic: string,
  ) {}

  /** @param eventsTopic e.g. `agentstate.events`; the heartbeats topic is its sibling `<prefix>heartbeats`. */
  static async create(registry: RegistryCodec, eventsTopic: string): Promise<RegistryEventCodec> {
    const id = await registry.register(valueSubject(eventsTopic), loadSchema('StateEvent'), { compatibility: 'BACKWARD' });
    return new RegistryEventCodec(registry, id, eventsTopic.replace(/events$/, 'heartbeats'));
  }

  async encodeHeartbeat(heartbeat: Heartbeat): Promise<Buffer> {
    this.heartbeatId ??= this.registry.register(valueSubject(this.heartbeatsTopic), loadSchema('Heartbeat'), { compatibility: 'BACKWARD' });
    return this.registry.encode(await this.heartbeatId, heartbeat);
  }

  encode(event: StateEvent): Promise<Buffer> {
    return this.registry.encode(this.schemaId, eventToWire(event));
  }

  async decode(value: Buffer): Promise<StateEvent> {
    return eventFromWire(await this.registry.decode<WireStateEvent>(value));
  }
}
