import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../../src/codec/errors.js';
import { lz4Decode, lz4Encode } from '../../../src/codec/lz4.js';

const require = createRequire(import.meta.url);
const lz4 = require('lz4') as { encode(b: Buffer): Buffer; decode(b: Buffer): Buffer };

describe('LZ4 frames', () => {
  it('are standard: the lz4 package reads ours and we read its (the format Kafka uses)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), fc.boolean(), (bytes, hc) => {
        const data = Buffer.from(bytes);
        expect(lz4.decode(lz4Encode(data, hc)).equals(data)).toBe(true);
        expect(lz4Decode(lz4.encode(data), data.length).equals(data)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('spans several 4 MB blocks', () => {
    const data = Buffer.alloc(9 * 1024 * 1024, 'agent memory ');
    expect(lz4Decode(lz4Encode(data), data.length).equals(data)).toBe(true);
  });

  it('refuses output beyond the expected size, trailing bytes and truncation', () => {
    const data = Buffer.alloc(100_000, 'abc');
    const frame = lz4Encode(data);
    expect(() => lz4Decode(frame, 1000)).toThrow(DecodeError);
    expect(() => lz4Decode(Buffer.concat([frame, Buffer.from([1])]), data.length)).toThrow(/1 trailing bytes/);
    expect(() => lz4Decode(frame.subarray(0, frame.length - 6), data.length)).toThrow(/truncated/);
    expect(() => lz4Decode(Buffer.from('not an lz4 frame'), 10)).toThrow(/bad magic/);
  });
});
