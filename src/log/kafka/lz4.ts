import { createRequire } from 'node:module';
import kafkajs from 'kafkajs';
import { DecodeError } from '../../errors.js';
import { lz4Encode } from '../../codec/lz4.js';

// `lz4` is a CommonJS native addon without types: load it through require.
const require = createRequire(import.meta.url);
// CompressionCodecs is not among kafkajs's ESM-detectable named exports.
const { CompressionCodecs, CompressionTypes } = kafkajs;
const lz4 = require('lz4') as { decode(input: Buffer): Buffer; decodeBlock(input: Buffer, output: Buffer): number };
const lz4Utils = require('lz4/lib/utils') as {
  descriptorChecksum(descriptor: Buffer): number;
  streamChecksum(data: Buffer | null, state: unknown): unknown;
};

const MAGIC = 0x184d2204;
const BLOCK_MAX_SIZES = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20];
/** One scratch block per size, reused: decompression is synchronous, so no two calls share it at once. */
const scratch = new Map<number, Buffer>();

/**
 * Decodes a Kafka LZ4 batch (a standard LZ4 frame, KIP-57). The package's
 * stream decoder allocates a zeroed 4 MB buffer per block: profiled on the
 * projector (issue 11), that zero-filling was the largest single cost of
 * consuming, ~9 s of CPU for 10,000 records of 22 KB. Here each block is
 * decoded into a reused scratch block and copied out at its real size. Frames
 * this does not handle (dependent blocks, dictionaries, an odd header) go to
 * the package's decoder, which reads everything.
 */
export function decodeKafkaLz4(input: Buffer): Buffer {
  if (input.length < 7 || input.readUInt32LE(0) !== MAGIC) return lz4.decode(input);
  const flg = input[4] as number;
  const bd = input[5] as number;
  const blockMax = BLOCK_MAX_SIZES[(bd >> 4) & 7] ?? 0;
  const independent = (flg & 0x20) !== 0;
  if (flg >> 6 !== 1 || !independent || (flg & 0x09) !== 0 || blockMax === 0) return lz4.decode(input);
  const blockChecksums = (flg & 0x10) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  if (input[6] !== lz4Utils.descriptorChecksum(input.subarray(4, 6))) return lz4.decode(input);
  let block = scratch.get(blockMax);
  if (!block) {
    block = Buffer.allocUnsafe(blockMax);
    scratch.set(blockMax, block);
  }
  const parts: Buffer[] = [];
  let sum: unknown = null;
  let pos = 7;
  for (;;) {
    if (pos + 4 > input.length) throw new DecodeError('an lz4 record batch', 'truncated frame (no end mark)');
    const word = input.readUInt32LE(pos);
    pos += 4;
    if (word === 0) break;
    const size = word & 0x7fffffff;
    if (size > blockMax || pos + size > input.length) throw new DecodeError('an lz4 record batch', `bad block of ${size} bytes at ${pos - 4}`);
    let out: Buffer;
    if ((word & 0x80000000) !== 0) out = Buffer.from(input.subarray(pos, pos + size));
    else {
      const n = lz4.decodeBlock(input.subarray(pos, pos + size), block);
      if (n < 0) throw new DecodeError('an lz4 record batch', `corrupt block at ${pos}`);
      out = Buffer.from(block.subarray(0, n));
    }
    if (contentChecksum) sum = lz4Utils.streamChecksum(out, sum);
    parts.push(out);
    pos += size + (blockChecksums ? 4 : 0);
  }
  if (contentChecksum) {
    if (pos + 4 > input.length || input.readUInt32LE(pos) !== lz4Utils.streamChecksum(null, sum)) throw new DecodeError('an lz4 record batch', 'content checksum mismatch');
  }
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

/**
 * kafkajs ships no LZ4 codec. Kafka's LZ4 batches use the standard LZ4 frame
 * format (KIP-57): written by the codec's frame writer (independent blocks, no
 * zeroed 4 MB buffers), read by `decodeKafkaLz4`.
 */
let registered = false;

export function registerLz4Codec(): void {
  // kafkajs pre-fills the slot with a codec that throws "not implemented".
  if (registered) return;
  registered = true;
  CompressionCodecs[CompressionTypes.LZ4] = () => ({
    compress: async (encoder: { buffer: Buffer }) => lz4Encode(encoder.buffer),
    decompress: async (buffer: Buffer) => decodeKafkaLz4(buffer),
  });
}
