import { createRequire } from 'node:module';
import { DecodeError } from './errors.js';

// `lz4` is a CommonJS native addon without types: load it through require.
const require = createRequire(import.meta.url);
const lz4 = require('lz4') as { encode(input: Buffer, options?: { highCompression?: boolean }): Buffer };
type LzDecoder = {
  on(event: 'data', fn: (chunk: Buffer) => void): void;
  on(event: 'error', fn: (error: Error) => void): void;
  end(input: Buffer): void;
  destroy(): void;
};
const Decoder = require('lz4/lib/decoder_stream') as new () => LzDecoder;

/** LZ4 frame format (the one Kafka uses, KIP-57), via the `lz4` package. */
export function lz4Encode(input: Buffer, highCompression = false): Buffer {
  return lz4.encode(input, { highCompression });
}

/**
 * LZ4 frame decode that stops as soon as the output would pass `maxBytes`,
 * so a small hostile frame cannot inflate into gigabytes. The package's own
 * `decode` has no bound and reports some errors through stream events.
 * @throws DecodeError when the frame is corrupt or inflates past `maxBytes`
 */
export function lz4Decode(input: Buffer, maxBytes: number): Buffer {
  const chunks: Buffer[] = [];
  let size = 0;
  let failure: string | undefined;
  const decoder = new Decoder();
  decoder.on('data', (chunk) => {
    if (failure !== undefined) return;
    size += chunk.length;
    if (size > maxBytes) {
      failure = `inflates past the declared ${maxBytes} bytes`;
      decoder.destroy();
      return;
    }
    chunks.push(chunk);
  });
  decoder.on('error', (error) => {
    failure ??= error.message;
  });
  try {
    decoder.end(input);
  } catch (error) {
    failure ??= (error as Error).message;
  }
  if (failure !== undefined) throw new DecodeError('lz4 frame', failure);
  return Buffer.concat(chunks, size);
}
