/**
 * Kafka's default partitioner for keyed records, so every adapter of the
 * EventLog port puts a key in the same partition as a Java, Go or Python
 * Kafka producer would (DESIGN.md: events keyed by instanceId, one agent's
 * events totally ordered in one partition).
 *
 * Java: `Utils.toPositive(Utils.murmur2(keyBytes)) % numPartitions`
 * (org.apache.kafka.clients.producer.internals.BuiltInPartitioner).
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/**
 * Kafka's 32-bit murmur2 (the variant in `org.apache.kafka.common.utils.Utils`).
 * `Math.imul` gives the wrapping 32-bit multiplication Java's `int` arithmetic has.
 */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  // The tail bytes, as Java's fall-through switch on length % 4 handles them.
  const tail = length & ~3;
  const rest = length & 3;
  if (rest >= 3) h ^= data[tail + 2]! << 16;
  if (rest >= 2) h ^= data[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= data[tail]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * The partition Kafka's default partitioner picks for a keyed record:
 * murmur2 of the key's UTF-8 bytes, made positive by masking the sign bit
 * (not `Math.abs`, which Kafka deliberately avoids), modulo the partition count.
 */
export function kafkaPartition(key: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
  }
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions;
}
