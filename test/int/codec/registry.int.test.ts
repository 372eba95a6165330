import { describe, expect, it } from 'vitest';
import { RegistryCodec } from '../../../src/codec/registry.js';
import { DecodeError, SchemaError } from '../../../src/codec/errors.js';
import { InvalidInputError } from '../../../src/domain/errors.js';
import { TooLargeError } from '../../../src/errors.js';
import { stackEnv, uniqueName } from '../../support/env.js';

const v1 = {
  type: 'record',
  name: 'Probe',
  namespace: 'agentstate.test',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'count', type: 'long' },
  ],
};

function codec(): RegistryCodec {
  return new RegistryCodec({ url: stackEnv().schemaRegistryUrl });
}

describe('RegistryCodec against the real registry', () => {
  it('registers idempotently and round-trips a record with Confluent framing', async () => {
    const subject = uniqueName('probe-value');
    const c = codec();
    const id = await c.register(subject, v1, { compatibility: 'BACKWARD' });
    // A second codec (no local cache) gets the same id back from the registry.
    expect(await codec().register(subject, v1)).toBe(id);

    const framed = await c.encode(id, { id: 'agent-1', count: 42 });
    expect(framed[0]).toBe(0);
    expect(framed.readInt32BE(1)).toBe(id);
    // A fresh codec resolves the id through the registry.
    expect(await codec().decode(framed)).toEqual({ id: 'agent-1', count: 42 });
  });

  it('processes starting together on a new subject all register it (the compatibility PUT race answers 409 to the losers)', async () => {
    const subject = uniqueName('probe-value');
    // Separate codecs: separate processes, no shared cache.
    const ids = await Promise.all(Array.from({ length: 12 }, () => codec().register(subject, v1, { compatibility: 'BACKWARD' })));
    expect(new Set(ids).size).toBe(1);
  });

  it('refuses records that do not match the schema, naming the field', async () => {
    const c = codec();
    const id = await c.register(uniqueName('probe-value'), v1);
    await expect(c.encode(id, { id: 'x', count: 'many' })).rejects.toThrow(/count/);
    await expect(c.encode(id, { id: 'x', count: 'many' })).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('throws DecodeError on bad magic, unknown id and truncated body', async () => {
    const c = codec();
    const id = await c.register(uniqueName('probe-value'), v1);
    const framed = await c.encode(id, { id: 'agent-1', count: 42 });

    const badMagic = Buffer.from(framed);
    badMagic[0] = 1;
    await expect(c.decode(badMagic)).rejects.toThrow(/magic byte 1/);

    const unknownId = Buffer.from(framed);
    unknownId.writeInt32BE(2_000_000_000, 1);
    await expect(c.decode(unknownId)).rejects.toThrow(/unknown schema id 2000000000/);
    await expect(c.decode(unknownId)).rejects.toBeInstanceOf(DecodeError);

    await expect(c.decode(framed.subarray(0, framed.length - 1))).rejects.toBeInstanceOf(DecodeError);
    await expect(c.decode(framed.subarray(0, 3))).rejects.toThrow(/shorter than the 5-byte header/);
  });

  it('refuses a schema the subject compatibility forbids', async () => {
    const subject = uniqueName('probe-value');
    const c = codec();
    await c.register(subject, v1, { compatibility: 'BACKWARD' });
    const breaking = { ...v1, fields: [...v1.fields, { name: 'required', type: 'string' }] };
    await expect(c.register(subject, breaking)).rejects.toBeInstanceOf(SchemaError);
  });

  it('encodes records of every size exactly once through its scratch buffer, and still names bad paths and the size limit', async () => {
    const subject = uniqueName('probe-value');
    const c = new RegistryCodec({ url: stackEnv().schemaRegistryUrl, maxRecordBytes: 3 * 1024 * 1024 });
    const id = await c.register(subject, v1);
    // Under avsc's own 1 KiB buffer, past it, past the 64 KiB scratch (which then grows), past the kept scratch (1 MiB).
    for (const size of [10, 1500, 100_000, 1_200_000, 50]) {
      const record = { id: 'é'.repeat(size), count: size };
      const framed = await c.encode(id, record);
      expect(framed[0]).toBe(0);
      expect(framed.readInt32BE(1)).toBe(id);
      expect(await codec().decode(framed)).toEqual(record);
    }
    const bad = await c.encode(id, { id: 1, count: 'x' }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(InvalidInputError);
    expect((bad as Error).message).toMatch(/does not match schema .* at id, count/);
    const big = await c.encode(id, { id: 'x'.repeat(4 * 1024 * 1024), count: 1 }).catch((e: unknown) => e);
    expect(big).toBeInstanceOf(TooLargeError);
  });
});
