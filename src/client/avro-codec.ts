import type { StateEvent } from '../domain/index.js';
import type { RegistryCodec } from '../codec/registry.js';
import { eventFromWire, eventToWire, type WireStateEvent } from '../codec/event-wire.js';
import { loadSchema, valueSubject } from '../codec/schemas.js';
import type { EventCodec } from './codec.js';

/**
 * Events as Avro with Confluent framing (magic 0, schema id, body), the schema
 * registered under `<events topic>-value` with BACKWARD compatibility, so any
 * Confluent-ecosystem consumer (Java, Python, Go) reads the topic.
 */
export class RegistryEventCodec implements EventCodec {
  private constructor(
    private readonly registry: RegistryCodec,
    private readonly schemaId: number,
  ) {}

  static async create(registry: RegistryCodec, eventsTopic: string): Promise<RegistryEventCodec> {
    const id = await registry.register(valueSubject(eventsTopic), loadSchema('StateEvent'), { compatibility: 'BACKWARD' });
    return new RegistryEventCodec(registry, id);
  }

  encode(event: StateEvent): Promise<Buffer> {
    return this.registry.encode(this.schemaId, eventToWire(event));
  }

  async decode(value: Buffer): Promise<StateEvent> {
    return eventFromWire(await this.registry.decode<WireStateEvent>(value));
  }
}
