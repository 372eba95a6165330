import avro from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { guardAvroBody } from '../../../src/codec/avro-guard.js';
import { DecodeError } from '../../../src/codec/errors.js';
import { eventFromWire, eventToWire, type WireStateEvent } from '../../../src/codec/event-wire.js';
import { SCHEMA_NAMES, loadSchema } from '../../../src/codec/schemas.js';
import { generateEvents } from '../../../src/corpus/events.js';

const eventType = avro.Type.forSchema(loadSchema('StateEvent') as avro.Schema);
const events = generateEvents(21, 6, 12_000);
const bodies = events.map((e) => eventType.toBuffer(eventToWire(e)));

describe('StateEvent wire mapping', () => {
  it('round-trips domain events through Avro, values as canonical JSON', () => {
    for (const e of events) {
      const wire = eventType.fromBuffer(eventType.toBuffer(eventToWire(e))) as WireStateEvent;
      expect(eventFromWire(wire)).toEqual(e);
    }
  });

  it('reports a changeset value that is not JSON as a DecodeError naming the path', () => {
    const wire = eventToWire(events[1]!);
    wire.changeset[0]!.newValue = '{not json';
    expect(() => eventFromWire(wire)).toThrow(DecodeError);
    expect(() => eventFromWire(wire)).toThrow(new RegExp(wire.changeset[0]!.path.replace(/[/~]/g, '.')));
  });

  it('passes an unknown event type through for decide() to reject, but refuses a bad instance id', () => {
    const wire = { ...eventToWire(events[0]!), eventType: 'agent_teleported' };
    expect(eventFromWire(wire).eventType).toBe('agent_teleported');
    expect(() => eventFromWire({ ...wire, instanceId: 'a/b' })).toThrow(DecodeError);
  });
});

describe('guardAvroBody', () => {
  it('accepts every valid record of every schema', () => {
    for (const name of SCHEMA_NAMES) {
      const type = avro.Type.forSchema(loadSchema(name) as avro.Schema);
      for (let i = 0; i < 20; i++) guardAvroBody(type, type.toBuffer(type.random()));
    }
    for (const body of bodies) guardAvroBody(eventType, body);
  });

  it('refuses a 15-byte body declaring 2^40 changes before avsc would try to allocate them', () => {
    // eventId..source: empty strings, zero longs, enum 0; causationId and correlationId: null;
    // then the changeset's block count 2^40 (zig-zag varint).
    const head = Buffer.alloc(9);
    const count = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x40]);
    expect(() => guardAvroBody(eventType, Buffer.concat([head, count]))).toThrow(/block declares 1099511627776 items but only 0 bytes remain/);
  });

  it('enforces the item and depth limits', () => {
    const list = avro.Type.forSchema({ type: 'array', items: 'int' });
    const body = list.toBuffer(Array.from({ length: 50 }, (_, i) => i));
    expect(() => guardAvroBody(list, body, { maxItems: 49, maxDepth: 64 })).toThrow(/more than 49 array\/map items/);
    guardAvroBody(list, body, { maxItems: 50, maxDepth: 64 });
    const nested = avro.Type.forSchema({ type: 'array', items: { type: 'array', items: { type: 'array', items: 'int' } } });
    expect(() => guardAvroBody(nested, nested.toBuffer([[[1]]]), { maxItems: 10, maxDepth: 2 })).toThrow(/nesting deeper than 2/);
  });

  it('refuses truncation and trailing bytes with the offset', () => {
    const body = bodies[2]!;
    expect(() => guardAvroBody(eventType, body.subarray(0, body.length - 3))).toThrow(DecodeError);
    expect(() => guardAvroBody(eventType, Buffer.concat([body, Buffer.from([0])]))).toThrow(/1 trailing bytes/);
  });

  it('fuzz: random and mutated bodies never crash, hang or pass avsc an impossible length', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
          fc.tuple(fc.nat(bodies.length - 1), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 })).map(([which, edits]) => {
            const b = Buffer.from(bodies[which]!);
            for (const [at, v] of edits) b[at % b.length] = v;
            return b;
          }),
        ),
        (input) => {
          try {
            guardAvroBody(eventType, input);
          } catch (error) {
            return error instanceof DecodeError;
          }
          // The guard passed it: avsc must now decode it without trouble, or fail with its own error quickly.
          try {
            eventType.fromBuffer(input);
          } catch {
            /* invalid enum/utf8 content is avsc's to report; the point is: bounded */
          }
          return true;
        },
      ),
      { numRuns: 1500 },
    );
  });
});
