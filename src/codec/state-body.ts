import { compress, decompressState, type CompressionAlgorithm } from './compression.js';
import { canonicalJson, parseJson, type JsonValue } from '../domain/index.js';

/** How a body is encoded: `none` = canonical JSON UTF-8; otherwise a src/codec compressed frame. */
export interface BodyEncoding {
  algorithm: 'none' | 'lz4' | 'gzip' | 'snappy' | 'brotli';
  /** Bytes of the canonical JSON. */
  originalSize: number;
  /** Bytes as stored (inline or in the blob store). */
  storedSize: number;
}

/** How states are encoded for the store, the cache and the state topic. */
export interface BodyOptions {
  /** States whose canonical JSON is larger than this are compressed. @default 16384 */
  compressAboveBytes: number;
  /** @default 'lz4' (fast; DESIGN.md: chosen per state — lz4 is the projector's default, snapshots may choose otherwise) */
  algorithm: CompressionAlgorithm;
  /** How many of the newest `executionState.taskHistory` items the store's queryable fields carry (the body keeps them all). @default 20 */
  taskHistoryLimit: number;
}

export const DEFAULT_BODY_OPTIONS: BodyOptions = { compressAboveBytes: 16 * 1024, algorithm: 'lz4', taskHistoryLimit: 20 };

/** An encoded state: canonical JSON, or a checksummed compressed frame from src/codec. */
export interface EncodedBody {
  encoding: BodyEncoding;
  bytes: Buffer;
}

/** Encodes a state: canonical JSON, compressed into a frame when large. */
export async function encodeState(state: JsonValue, options: BodyOptions = DEFAULT_BODY_OPTIONS): Promise<EncodedBody> {
  const json = Buffer.from(canonicalJson(state), 'utf8');
  if (json.length <= options.compressAboveBytes || options.algorithm === 'none') {
    return { encoding: { algorithm: 'none', originalSize: json.length, storedSize: json.length }, bytes: json };
  }
  // The canonical JSON made above (compressState would make it again: a second walk of the whole state).
  const bytes = await compress(json, options.algorithm);
  return { encoding: { algorithm: options.algorithm, originalSize: json.length, storedSize: bytes.length }, bytes };
}

/** Decodes what {@link encodeState} produced; frames verify their checksum (DESIGN.md Invariant 6). */
export async function decodeState(encoding: BodyEncoding, bytes: Buffer): Promise<JsonValue> {
  if (encoding.algorithm === 'none') return parseJson(bytes.toString('utf8'), 'state body');
  return decompressState(bytes);
}
