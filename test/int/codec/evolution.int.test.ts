import { describe, expect, it } from 'vitest';
import { SchemaError } from '../../../src/codec/errors.js';
import { eventFromWire, eventToWire, type WireStateEvent } from '../../../src/codec/event-wire.js';
import { RegistryCodec } from '../../../src/codec/registry.js';
import { loadSchema, registerAll } from '../../../src/codec/schemas.js';
import { checksum } from '../../../src/domain/checksum.js';
import type { StateEvent } from '../../../src/domain/event.js';
import { epoch, instanceId, version } from '../../../src/domain/ids.js';
import { stackEnv, uniqueName } from '../../support/env.js';

type AvroRecord = { type: 'record'; name: string; namespace: string; fields: { name: string; type: unknown; default?: unknown }[] };

const v1 = loadSchema('StateEvent') as AvroRecord;
/** Allowed: a new optional field with a default. */
const v2: AvroRecord = { ...v1, fields: [...v1.fields, { name: 'tenantId', type: ['null', 'string'], default: null }] };
/** Breaking under BACKWARD: a new field that old records cannot fill. */
const v2Required: AvroRecord = { ...v1, fields: [...v1.fields, { name: 'tenantId', type: 'string' }] };
/** Removes `source`, which has no default: old readers cannot read new records. */
const v2Removed: AvroRecord = { ...v1, fields: v1.fields.filter((f) => f.name !== 'source') };

const event: StateEvent = {
  eventId: 'e-1',
  instanceId: instanceId('agent-7'),
  version: version(3),
  writerEpoch: epoch(2),
  timestamp: 1_760_000_000_000,
  eventType: 'task_assigned',
  source: 'runtime-a',
  causationId: null,
  correlationId: 'corr-1',
  changeset: [{ path: '/executionState/currentTask', op: 'update', oldValue: null, newValue: { taskId: 't1', prompt: 'Résumé ✓' } }],
  metadata: { model: 'gpt' },
  stateChecksum: checksum({ x: 1 }),
  replay: null,
  replayable: true,
};

const codec = (): RegistryCodec => new RegistryCodec({ url: stackEnv().schemaRegistryUrl });

describe('StateEvent schema evolution under BACKWARD (real registry)', () => {
  it('round-trips a domain event through the registered StateEvent schema', async () => {
    const c = codec();
    const ids = await registerAll(c, `${uniqueName('t')}.`);
    const framed = await c.encode(ids.events!, eventToWire(event));
    expect(eventFromWire(await codec().decode<WireStateEvent>(framed))).toEqual(event);
  });

  it('accepts a new optional field, and an old reader decodes the new writer\u2019s record', async () => {
    const subject = uniqueName('evolve-value');
    const c = codec();
    const id1 = await c.register(subject, v1, { compatibility: 'BACKWARD' });
    const id2 = await c.register(subject, v2);
    expect(id2).not.toBe(id1);

    const framed = await c.encode(id2, { ...eventToWire(event), tenantId: 'acme' });
    const asOld = await codec().decode<WireStateEvent>(framed, { readerSchema: v1 });
    expect(asOld).not.toHaveProperty('tenantId');
    expect(eventFromWire(asOld)).toEqual(event);
    // And the new reader reads old records, filling the default.
    const old = await c.encode(id1, eventToWire(event));
    expect(await codec().decode(old, { readerSchema: v2 })).toMatchObject({ tenantId: null, eventId: 'e-1' });
  });

  it('refuses a new field without a default (old records could not be read)', async () => {
    const subject = uniqueName('evolve-value');
    const c = codec();
    await c.register(subject, v1, { compatibility: 'BACKWARD' });
    await expect(c.register(subject, v2Required)).rejects.toBeInstanceOf(SchemaError);
  });

  it('refuses removing a field without a default where old readers must keep working (FULL)', async () => {
    // Under plain BACKWARD a removal is legal (new readers just ignore the
    // field); it breaks *old readers*, which FORWARD/FULL protect.
    const subject = uniqueName('evolve-value');
    const c = codec();
    await c.register(subject, v1, { compatibility: 'FULL' });
    await expect(c.register(subject, v2Removed)).rejects.toThrow(SchemaError);
    await expect(c.register(subject, v2)).resolves.toBeGreaterThan(0);

    const backward = uniqueName('evolve-value');
    await c.register(backward, v1, { compatibility: 'BACKWARD' });
    await expect(c.register(backward, v2Removed)).resolves.toBeGreaterThan(0);
  });

  it('StateChange.oldBytes (issue 10) is a compatible change: records of the schema before it still decode, and an elided old value round-trips', async () => {
    type Field = { name: string; type: unknown };
    const withoutOldBytes = JSON.parse(JSON.stringify(v1), (key, value: unknown) => (key === 'fields' && Array.isArray(value) ? (value as Field[]).filter((f) => f.name !== 'oldBytes') : value)) as AvroRecord;
    expect(JSON.stringify(withoutOldBytes)).not.toContain('oldBytes');
    const subject = uniqueName('evolve-value');
    const c = codec();
    const before = await c.register(subject, withoutOldBytes, { compatibility: 'FULL' });
    const now = await c.register(subject, v1);
    const old = await c.encode(before, eventToWire(event));
    expect(eventFromWire(await codec().decode<WireStateEvent>(old, { readerSchema: v1 }))).toEqual(event);
    const elided: StateEvent = { ...event, changeset: [{ path: '/memory/conversation/0', op: 'delete', oldBytes: 1061 }, ...event.changeset] };
    const framed = await c.encode(now, eventToWire(elided));
    expect(eventFromWire(await codec().decode<WireStateEvent>(framed))).toEqual(elided);
    // A reader that predates the field still reads the event (FULL: old readers keep working).
    expect(eventFromWire(await codec().decode<WireStateEvent>(framed, { readerSchema: withoutOldBytes })).changeset[0]).toEqual({ path: '/memory/conversation/0', op: 'delete' });
  });
});
