import { createRequire } from 'node:module';
import { DecodeError } from './errors.js';

// `lz4` is a CommonJS native addon without types: load it through require.
const require = createRequire(import.meta.url);
const lz4 = require('lz4') as {
  encodeBound(size: number): number;
  encodeBlock(input: Buffer, output: Buffer): number;
  encodeBlockHC(input: Buffer, output: Buffer): number;
  decodeBlock(input: Buffer, output: Buffer): number;
};
const lz4Utils = require('lz4/lib/utils') as { descriptorChecksum(descriptor: Buffer): number };

/*
 * LZ4 frame format (lz4_Frame_format.md v1.6, the format Kafka uses since
 * KIP-57), written and read here around the package's native block codec:
 * the package's stream classes allocate a zeroed 4 MB buffer per block and
 * have no output bound, which made a 2 KB state decode at 1 MB/s and let a
 * hostile frame inflate without limit. Frames written here are standard
 * (independent blocks, no checksums: the agentstate frame around them carries
 * a SHA-256), and any LZ4 frame reader, `lz4.decode` included, reads them.
 */
const MAGIC = 0x184d2204;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE = 0x184d2a50;
const BLOCK_MAX = 4 * 1024 * 1024;
const BLOCK_MAX_SIZES = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20];

/** Encodes `input` as one LZ4 frame: 4 MB independent blocks, LZ4 or LZ4-HC. */
export function lz4Encode(input: Buffer, highCompression = false): Buffer {
  const descriptor = Buffer.from([0x60, 0x70]); // version 01, independent blocks; block max 4 MB
  const parts: Buffer[] = [Buffer.alloc(4), descriptor, Buffer.from([lz4Utils.descriptorChecksum(descriptor)])];
  parts[0]!.writeUInt32LE(MAGIC, 0);
  for (let offset = 0; offset < input.length; offset += BLOCK_MAX) {
    const chunk = input.subarray(offset, Math.min(input.length, offset + BLOCK_MAX));
    const out = Buffer.allocUnsafe(4 + lz4.encodeBound(chunk.length));
    const n = highCompression ? lz4.encodeBlockHC(chunk, out.subarray(4)) : lz4.encodeBlock(chunk, out.subarray(4));
    if (n > 0 && n < chunk.length) {
      out.writeUInt32LE(n, 0);
      parts.push(out.subarray(0, 4 + n));
    } else {
      // Incompressible: stored as is, flagged by the high bit of the size.
      const raw = Buffer.allocUnsafe(4);
      raw.writeUInt32LE((0x80000000 | chunk.length) >>> 0, 0);
      parts.push(raw, chunk);
    }
  }
  parts.push(Buffer.alloc(4)); // end mark
  return Buffer.concat(parts);
}

/**
 * Decodes one LZ4 frame into exactly `expectedSize` bytes, allocated once up
 * front (the caller has already checked it against its limit). Any block that
 * would write past it, a malformed header, dependent blocks, or trailing bytes
 * fail with a DecodeError naming the offset.
 */
export function lz4Decode(input: Buffer, expectedSize: number): Buffer {
  const fail = (at: number, problem: string): never => {
    throw new DecodeError('lz4 frame', `${problem} (at offset ${at})`);
  };
  if (input.length < 7) fail(0, `${input.length} bytes is too short for a frame header`);
  const magic = input.readUInt32LE(0);
  if (magic !== MAGIC) fail(0, (magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE ? 'skippable frames are not supported' : `bad magic 0x${magic.toString(16)}`);
  const flg = input[4] as number;
  const bd = input[5] as number;
  if (flg >> 6 !== 1) fail(4, `unsupported frame version ${flg >> 6}`);
  if ((flg & 0x02) !== 0 || (bd & 0x8f) !== 0) fail(4, 'reserved bits set');
  if ((flg & 0x20) === 0) fail(4, 'dependent blocks are not supported');
  if ((flg & 0x01) !== 0) fail(4, 'dictionaries are not supported');
  const blockMax = BLOCK_MAX_SIZES[(bd >> 4) & 7] ?? 0;
  if (blockMax === 0) fail(5, `invalid block max size index ${(bd >> 4) & 7}`);
  const blockChecksums = (flg & 0x10) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  let pos = 6;
  if ((flg & 0x08) !== 0) {
    if (input.length < pos + 9) fail(pos, 'truncated content size');
    const declared = input.readBigUInt64LE(pos);
    if (declared !== BigInt(expectedSize)) fail(pos, `content size ${declared} differs from the expected ${expectedSize}`);
    pos += 8;
  }
  const hc = lz4Utils.descriptorChecksum(input.subarray(4, pos));
  if (input[pos] !== hc) fail(pos, 'header checksum mismatch');
  pos++;

  const output = Buffer.allocUnsafe(expectedSize);
  let written = 0;
  for (;;) {
    if (pos + 4 > input.length) fail(pos, 'truncated: no end mark');
    const word = input.readUInt32LE(pos);
    pos += 4;
    if (word === 0) break;
    const stored = (word & 0x80000000) !== 0;
    const size = word & 0x7fffffff;
    if (size > blockMax) fail(pos - 4, `block of ${size} bytes exceeds the frame's block max ${blockMax}`);
    if (pos + size + (blockChecksums ? 4 : 0) > input.length) fail(pos, `truncated block: ${size} bytes declared`);
    const block = input.subarray(pos, pos + size);
    const room = expectedSize - written;
    if (stored) {
      if (size > room) fail(pos, `inflates past the expected ${expectedSize} bytes`);
      block.copy(output, written);
      written += size;
    } else {
      // The native decoder is bounded by the output slice it is given (LZ4_decompress_safe).
      const n = lz4.decodeBlock(block, output.subarray(written, written + Math.min(room, blockMax)));
      if (n < 0) fail(pos - n, 'corrupt block');
      written += n;
    }
    pos += size + (blockChecksums ? 4 : 0);
  }
  if (contentChecksum) pos += 4; // the agentstate frame's SHA-256 covers the content
  if (pos !== input.length) fail(pos, `${input.length - pos} trailing bytes`);
  if (written !== expectedSize) fail(pos, `decoded ${written} bytes, expected ${expectedSize}`);
  return output;
}
