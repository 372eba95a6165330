import { describe, expect, it } from 'vitest';
import { decodeSegment, encodeSegment, openSegment, sealSegment, type SegmentRecord } from '../../../src/backup/index.js';
import { AgentStateError } from '../../../src/errors.js';

const records: SegmentRecord[] = [
  { offset: '9007199254740993', timestamp: 1_796_000_000_000, key: 'agent-é', headers: { a: '1', ü: 'ß' }, value: Buffer.from([0, 1, 2, 3, 255]) },
  { offset: '9007199254740994', timestamp: 1_796_000_000_001, key: 'tomb', headers: {}, value: null },
  { offset: '9007199254740995', timestamp: -5, key: '', headers: {}, value: Buffer.alloc(0) },
];

describe('backup segment format', () => {
  it('round-trips offsets past 2^53, headers, null and empty values, negative timestamps, for every algorithm', async () => {
    for (const algorithm of ['none', 'lz4', 'gzip', 'snappy', 'brotli'] as const) {
      const sealed = await sealSegment('t.events', 7, records, algorithm);
      const seg = await openSegment(sealed.bytes);
      expect({ topic: seg.topic, partition: seg.partition, first: seg.firstOffset, last: seg.lastOffset, count: seg.count }).toEqual({
        topic: 't.events',
        partition: 7,
        first: '9007199254740993',
        last: '9007199254740995',
        count: 3,
      });
      expect(seg.records).toEqual(records);
      expect(seg.bodySha256).toBe(sealed.bodySha256);
    }
  });

  it('is deterministic: the same records give the same bytes', async () => {
    const a = await sealSegment('t.events', 0, records, 'lz4');
    const b = await sealSegment(
      't.events',
      0,
      records.map((r) => ({ ...r })),
      'lz4',
    );
    expect(a.bytes.equals(b.bytes)).toBe(true);
  });

  it('refuses non-contiguous records, truncation, trailing bytes and flipped bytes', async () => {
    expect(() => encodeSegment('t', 0, [records[0]!, records[2]!])).toThrow(/not contiguous/);
    const body = encodeSegment('t', 0, records);
    expect(() => decodeSegment(body.subarray(0, body.length - 1))).toThrow(/truncated/);
    expect(() => decodeSegment(Buffer.concat([body, Buffer.from([0])]))).toThrow(/after the last record/);
    const bad = Buffer.from(body);
    bad.writeUInt32BE(4, 28); // count no longer matches the offset range
    expect(() => decodeSegment(bad)).toThrow(/declares offsets/);
    const sealed = (await sealSegment('t', 0, records, 'none')).bytes;
    for (const at of [10, 30, 60, sealed.length - 1]) {
      const flipped = Buffer.from(sealed);
      flipped[at] = flipped[at]! ^ 0x01;
      await expect(openSegment(flipped), `byte ${at}`).rejects.toBeInstanceOf(AgentStateError);
    }
    await expect(openSegment(sealed.subarray(0, sealed.length - 3))).rejects.toThrow(/truncated/);
  });
});
