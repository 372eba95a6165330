import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { lz4Encode } from '../../../src/codec/lz4.js';
import { decodeKafkaLz4 } from '../../../src/log/kafka/lz4.js';

const require = createRequire(import.meta.url);
const lz4 = require('lz4') as { encode(input: Buffer, options?: object): Buffer; decode(input: Buffer): Buffer };

const text = (n: number): Buffer =>
  Buffer.from(
    Array.from({ length: n }, (_, i) => `record ${i % 97} of a batch; `)
      .join('')
      .slice(0, n),
  );

describe('Kafka LZ4 batches (decodeKafkaLz4)', () => {
  const inputs: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['small text', text(300)],
    ['22 KB text', text(22_000)],
    ['incompressible', randomBytes(70_000)],
    ['several 64 KB blocks', text(200_000)],
  ];
  for (const [name, input] of inputs) {
    it(`reads the lz4 package's frames (content checksum on): ${name}`, () => {
      expect(decodeKafkaLz4(lz4.encode(input)).equals(input)).toBe(true);
      // 64 KB blocks, as Kafka's Java producer writes them.
      expect(decodeKafkaLz4(lz4.encode(input, { blockMaxSize: 64 << 10 })).equals(input)).toBe(true);
    });
    it(`reads frames our writer makes, which the lz4 package reads too: ${name}`, () => {
      const frame = lz4Encode(input);
      expect(decodeKafkaLz4(frame).equals(input)).toBe(true);
      expect(lz4.decode(frame).equals(input)).toBe(true);
    });
  }
  it('falls back to the package decoder for dependent blocks', () => {
    const input = text(300_000);
    expect(decodeKafkaLz4(lz4.encode(input, { blockIndependence: false, blockMaxSize: 64 << 10 })).equals(input)).toBe(true);
  });
  it('fails on a corrupted content checksum and on a truncated frame', () => {
    const frame = lz4.encode(text(5000));
    const bad = Buffer.from(frame);
    bad.writeUInt32LE((bad.readUInt32LE(bad.length - 4) ^ 1) >>> 0, bad.length - 4);
    expect(() => decodeKafkaLz4(bad)).toThrow(expect.objectContaining({ code: 'AS_DECODE', message: expect.stringMatching(/checksum/) }));
    expect(() => decodeKafkaLz4(frame.subarray(0, frame.length - 10))).toThrow(expect.objectContaining({ code: 'AS_DECODE', message: expect.stringMatching(/lz4/) }));
  });
});
