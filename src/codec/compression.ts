import { createHash, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import snappy from 'snappy';
import { ChecksumMismatchError, InvalidInputError, TooLargeError } from '../domain/errors.js';
import { canonicalJson, parseJson, type JsonValue } from '../domain/json.js';
import { DecodeError } from './errors.js';
import { lz4Decode, lz4Encode } from './lz4.js';

/** Compression algorithms a frame can carry (DESIGN.md Snapshots: chosen per state). */
export const COMPRESSION_ALGORITHMS = ['none', 'lz4', 'gzip', 'snappy', 'brotli'] as const;
/** One of {@link COMPRESSION_ALGORITHMS}. */
export type CompressionAlgorithm = (typeof COMPRESSION_ALGORITHMS)[number];

/** Tuning of each algorithm. */
export interface CompressionOptions {
  /** gzip level 1-9. @default 6 */
  gzipLevel?: number;
  /** brotli quality 0-11; 11 is ~20x slower than 5 for a few % smaller output. @default 5 */
  brotliQuality?: number;
  /** Use LZ4-HC instead of the fast LZ4 encoder. @default false */
  lz4HighCompression?: boolean;
}

/** Limits checked by decompress before anything is allocated. */
export interface DecompressionLimits {
  /** Largest original size a frame may declare. @default 256 MiB */
  maxOriginalBytes?: number;
}

/** What a frame header says. */
export interface CompressedFrameHeader {
  formatVersion: number;
  algorithm: CompressionAlgorithm;
  originalSize: number;
  compressedSize: number;
  /** SHA-256 hex of the original bytes. */
  checksum: string;
}

/*
 * Frame layout (big-endian), self-describing so a reader needs nothing else:
 *   0  4  magic "ASCF" (agentstate compressed frame)
 *   4  1  format version (1)
 *   5  1  algorithm id (index in COMPRESSION_ALGORITHMS)
 *   6  2  reserved, 0
 *   8  8  original size
 *  16  8  compressed size (must equal the bytes that follow the header)
 *  24 32  SHA-256 of the original bytes (DESIGN.md Invariant 6: verified on every read)
 *  56  …  compressed body
 */
const MAGIC = Buffer.from('ASCF', 'latin1');
const FORMAT_VERSION = 1;
/** Bytes before the body. */
export const COMPRESSED_HEADER_SIZE = 56;
const DEFAULT_MAX_ORIGINAL = 256 * 1024 * 1024;

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);
const brotliCompress = promisify(zlib.brotliCompress);
const brotliDecompress = promisify(zlib.brotliDecompress);

function brotliParams(quality: number, size: number): zlib.BrotliOptions {
  return {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: quality,
      [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: size,
    },
  };
}

function encodeBodySync(data: Buffer, algorithm: CompressionAlgorithm, o: CompressionOptions): Buffer {
  switch (algorithm) {
    case 'none':
      return data;
    case 'lz4':
      return lz4Encode(data, o.lz4HighCompression ?? false);
    case 'gzip':
      return zlib.gzipSync(data, { level: o.gzipLevel ?? 6 });
    case 'snappy':
      return snappy.compressSync(data);
    case 'brotli':
      return zlib.brotliCompressSync(data, brotliParams(o.brotliQuality ?? 5, data.length));
  }
}

async function encodeBody(data: Buffer, algorithm: CompressionAlgorithm, o: CompressionOptions): Promise<Buffer> {
  // zlib and snappy run on the libuv thread pool: a 50 MB state does not stall the event loop.
  switch (algorithm) {
    case 'gzip':
      return gzip(data, { level: o.gzipLevel ?? 6 });
    case 'brotli':
      return brotliCompress(data, brotliParams(o.brotliQuality ?? 5, data.length));
    case 'snappy':
      return snappy.compress(data);
    default:
      return encodeBodySync(data, algorithm, o);
  }
}

function toBuffer(input: Uint8Array | string): Buffer {
  if (typeof input === 'string') return Buffer.from(input, 'utf8');
  return Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
}

function assertAlgorithm(algorithm: string): asserts algorithm is CompressionAlgorithm {
  if (!(COMPRESSION_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw new InvalidInputError('compression algorithm', `${JSON.stringify(algorithm)} is not one of ${COMPRESSION_ALGORITHMS.join(', ')}`);
  }
}

function frame(original: Buffer, body: Buffer, algorithm: CompressionAlgorithm): Buffer {
  const out = Buffer.allocUnsafe(COMPRESSED_HEADER_SIZE + body.length);
  MAGIC.copy(out, 0);
  out[4] = FORMAT_VERSION;
  out[5] = COMPRESSION_ALGORITHMS.indexOf(algorithm);
  out.writeUInt16BE(0, 6);
  out.writeBigUInt64BE(BigInt(original.length), 8);
  out.writeBigUInt64BE(BigInt(body.length), 16);
  createHash('sha256').update(original).digest().copy(out, 24);
  body.copy(out, COMPRESSED_HEADER_SIZE);
  return out;
}

/** Compresses bytes (or a UTF-8 string) into a self-describing frame, synchronously. */
export function compressSync(input: Uint8Array | string, algorithm: CompressionAlgorithm, options: CompressionOptions = {}): Buffer {
  assertAlgorithm(algorithm);
  const data = toBuffer(input);
  return frame(data, encodeBodySync(data, algorithm, options), algorithm);
}

/** Compresses bytes (or a UTF-8 string) into a self-describing frame; gzip, brotli and snappy run off the event loop. */
export async function compress(input: Uint8Array | string, algorithm: CompressionAlgorithm, options: CompressionOptions = {}): Promise<Buffer> {
  assertAlgorithm(algorithm);
  const data = toBuffer(input);
  return frame(data, await encodeBody(data, algorithm, options), algorithm);
}

/** Compresses the canonical JSON of a state (so equal states give equal frames). */
export function compressState(state: JsonValue, algorithm: CompressionAlgorithm, options: CompressionOptions = {}): Promise<Buffer> {
  return compress(canonicalJson(state), algorithm, options);
}

/**
 * Reads and checks a frame header: magic, version, algorithm, declared sizes
 * against the limit and against the bytes actually present.
 * @throws DecodeError / TooLargeError
 */
export function readCompressedHeader(frameBytes: Uint8Array, limits: DecompressionLimits = {}): CompressedFrameHeader {
  const buf = toBuffer(frameBytes);
  if (buf.length < COMPRESSED_HEADER_SIZE) {
    throw new DecodeError('compressed frame', `${buf.length} bytes is shorter than the ${COMPRESSED_HEADER_SIZE}-byte header`);
  }
  if (!buf.subarray(0, 4).equals(MAGIC)) throw new DecodeError('compressed frame', `bad magic ${buf.subarray(0, 4).toString('hex')} (expected "ASCF")`);
  if (buf[4] !== FORMAT_VERSION) throw new DecodeError('compressed frame', `unsupported format version ${buf[4]}`);
  const algorithm = COMPRESSION_ALGORITHMS[buf[5] as number];
  if (algorithm === undefined) throw new DecodeError('compressed frame', `unknown algorithm id ${buf[5]}`);
  const originalSize = buf.readBigUInt64BE(8);
  const compressedSize = buf.readBigUInt64BE(16);
  const max = limits.maxOriginalBytes ?? DEFAULT_MAX_ORIGINAL;
  if (originalSize > BigInt(max)) throw new TooLargeError('compressed frame original size', Number(originalSize), max);
  if (compressedSize !== BigInt(buf.length - COMPRESSED_HEADER_SIZE)) {
    throw new DecodeError('compressed frame', `declares ${compressedSize} body bytes but ${buf.length - COMPRESSED_HEADER_SIZE} are present (truncated or padded)`);
  }
  if (algorithm === 'none' && originalSize !== compressedSize) {
    throw new DecodeError('compressed frame', `uncompressed body of ${compressedSize} bytes declares original size ${originalSize}`);
  }
  return {
    formatVersion: FORMAT_VERSION,
    algorithm,
    originalSize: Number(originalSize),
    compressedSize: Number(compressedSize),
    checksum: buf.subarray(24, 56).toString('hex'),
  };
}

/** Snappy's preamble is a varint of the uncompressed length; check it before the native code allocates it. */
function snappyLength(body: Buffer): number {
  let result = 0;
  for (let i = 0, factor = 1; i < 5 && i < body.length; i++, factor *= 128) {
    const b = body[i] as number;
    result += (b & 0x7f) * factor;
    if ((b & 0x80) === 0) return result;
  }
  throw new DecodeError('snappy body', 'bad length preamble');
}

function decodeBodySync(body: Buffer, header: CompressedFrameHeader): Buffer {
  const limit = Math.max(1, header.originalSize);
  switch (header.algorithm) {
    case 'none':
      return body;
    case 'lz4':
      return lz4Decode(body, header.originalSize);
    case 'gzip':
      return zlib.gunzipSync(body, { maxOutputLength: limit });
    case 'brotli':
      return zlib.brotliDecompressSync(body, { maxOutputLength: limit });
    case 'snappy': {
      const declared = snappyLength(body);
      if (declared !== header.originalSize) {
        throw new DecodeError('snappy body', `preamble says ${declared} bytes, frame says ${header.originalSize}`);
      }
      return snappy.uncompressSync(body, { asBuffer: true }) as Buffer;
    }
  }
}

async function decodeBody(body: Buffer, header: CompressedFrameHeader): Promise<Buffer> {
  const limit = Math.max(1, header.originalSize);
  if (header.algorithm === 'gzip') return gunzip(body, { maxOutputLength: limit });
  if (header.algorithm === 'brotli') return brotliDecompress(body, { maxOutputLength: limit });
  return decodeBodySync(body, header);
}

function verify(out: Buffer, header: CompressedFrameHeader): Buffer {
  if (out.length !== header.originalSize) {
    throw new DecodeError('compressed frame', `${header.algorithm} body inflated to ${out.length} bytes, header says ${header.originalSize}`);
  }
  const actual = createHash('sha256').update(out).digest();
  if (!timingSafeEqual(actual, Buffer.from(header.checksum, 'hex'))) {
    throw new ChecksumMismatchError('compressed frame', header.checksum, actual.toString('hex'));
  }
  return out;
}

function wrap(error: unknown, header: CompressedFrameHeader): unknown {
  if (error instanceof DecodeError || error instanceof ChecksumMismatchError) return error;
  return new DecodeError('compressed frame', `${header.algorithm} body is corrupt: ${(error as Error).message}`, { cause: error });
}

/**
 * Decompresses a frame and verifies size and SHA-256 of the result, synchronously.
 * @throws DecodeError (bad header, truncated, corrupt body), TooLargeError, ChecksumMismatchError
 */
export function decompressSync(frameBytes: Uint8Array, limits: DecompressionLimits = {}): Buffer {
  const header = readCompressedHeader(frameBytes, limits);
  const body = toBuffer(frameBytes).subarray(COMPRESSED_HEADER_SIZE);
  let out: Buffer;
  try {
    out = decodeBodySync(body, header);
  } catch (error) {
    throw wrap(error, header);
  }
  return verify(out, header);
}

/** Like {@link decompressSync}; gzip and brotli run off the event loop. */
export async function decompress(frameBytes: Uint8Array, limits: DecompressionLimits = {}): Promise<Buffer> {
  const header = readCompressedHeader(frameBytes, limits);
  const body = toBuffer(frameBytes).subarray(COMPRESSED_HEADER_SIZE);
  let out: Buffer;
  try {
    out = await decodeBody(body, header);
  } catch (error) {
    throw wrap(error, header);
  }
  return verify(out, header);
}

/** Decompresses a frame made by {@link compressState} back into the state. */
export async function decompressState(frameBytes: Uint8Array, limits: DecompressionLimits = {}): Promise<JsonValue> {
  return parseJson((await decompress(frameBytes, limits)).toString('utf8'), 'decompressed state');
}
