import { randomBytes, randomInt } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkaPartition, murmur2 } from '../../../src/log/partitioner.js';

/** kafkajs's DefaultPartitioner (Java compatible since kafkajs 2.0) for a keyed message. */
function kafkajsPartition(key: string, partitions: number): number {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    partitionErrorCode: 0,
    replicas: [0],
    isr: [0],
  }));
  return partitioner({ topic: 't', partitionMetadata, message: { key, value: null } });
}

function randomKey(): string {
  switch (randomInt(4)) {
    case 0:
      return `agent-${randomBytes(8).toString('hex')}`;
    case 1:
      // Random lengths exercise every tail length (length % 4).
      return randomBytes(randomInt(0, 40)).toString('base64');
    case 2:
      // Multi-byte UTF-8: the hash is over bytes, not UTF-16 units.
      return Array.from({ length: randomInt(1, 12) }, () => String.fromCodePoint(randomInt(0x80, 0x2fff))).join('');
    default:
      return String(randomInt(1_000_000_000));
  }
}

describe('kafkaPartition', () => {
  it('matches the Java client on published reference hashes', () => {
    // Values from Kafka's UtilsTest.testMurmur2 (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java).
    const cases: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of cases) expect(murmur2(Buffer.from(key)), key).toBe(hash);
  });

  it('assigns the same partition as kafkajs DefaultPartitioner for many random keys', () => {
    for (let i = 0; i < 5000; i++) {
      const key = randomKey();
      const partitions = randomInt(1, 130);
      expect(kafkaPartition(key, partitions), `${JSON.stringify(key)} over ${partitions}`).toBe(kafkajsPartition(key, partitions));
    }
  });

  it('is stable and in range', () => {
    for (let i = 0; i < 200; i++) {
      const key = randomKey();
      const p = kafkaPartition(key, 12);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(12);
      expect(kafkaPartition(key, 12)).toBe(p);
    }
  });

  it('rejects a partition count that is not a positive integer', () => {
    expect(() => kafkaPartition('k', 0)).toThrow(RangeError);
    expect(() => kafkaPartition('k', 1.5)).toThrow(RangeError);
  });
});
