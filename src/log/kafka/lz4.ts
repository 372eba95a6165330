import { createRequire } from 'node:module';
import kafkajs from 'kafkajs';

// `lz4` is a CommonJS native addon without types: load it through require.
const require = createRequire(import.meta.url);
// CompressionCodecs is not among kafkajs's ESM-detectable named exports.
const { CompressionCodecs, CompressionTypes } = kafkajs;
const lz4 = require('lz4') as { encode(input: Buffer): Buffer; decode(input: Buffer): Buffer };

/**
 * kafkajs ships no LZ4 codec. Kafka's LZ4 batches use the standard LZ4 frame
 * format (KIP-57), which the `lz4` package writes and reads.
 */
let registered = false;

export function registerLz4Codec(): void {
  // kafkajs pre-fills the slot with a codec that throws "not implemented".
  if (registered) return;
  registered = true;
  CompressionCodecs[CompressionTypes.LZ4] = () => ({
    compress: async (encoder: { buffer: Buffer }) => lz4.encode(encoder.buffer),
    decompress: async (buffer: Buffer) => lz4.decode(buffer),
  });
}
