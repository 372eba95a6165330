import { canonicalJson, parseJson, type JsonValue } from '../domain/json.js';
import { compress, decompress, readCompressedHeader, type CompressionAlgorithm, type CompressionOptions, type DecompressionLimits } from './compression.js';
import { DecodeError } from './errors.js';
import type { Keyring } from './keyring.js';

/** Options of {@link sealBlob}. */
export interface SealOptions extends CompressionOptions {
  algorithm: CompressionAlgorithm;
  /** Encrypt under this agent's data key (needs `keyring`). */
  encryptFor?: { keyring: Keyring; instanceId: string; aad?: Uint8Array };
}

/** What {@link describeBlob} tells without decrypting or decompressing. */
export interface BlobInfo {
  encrypted: boolean;
  /** Data key id when encrypted. */
  keyId: string | null;
  /** Compression algorithm, sizes and SHA-256 of the original (only when not encrypted: they are inside the ciphertext). */
  compression: ReturnType<typeof readCompressedHeader> | null;
}

const ENCRYPTED = Buffer.from('ASEF', 'latin1');
const COMPRESSED = Buffer.from('ASCF', 'latin1');

/**
 * The body of a snapshot or backup object (DESIGN.md Storage: "framed: format
 * version, compression algorithm, key id, checksum"): the compressed frame
 * (version, algorithm, sizes, SHA-256 of the original), optionally inside an
 * AES-256-GCM frame (key id). Compress first: ciphertext does not compress.
 */
export async function sealBlob(bytes: Uint8Array | string, options: SealOptions): Promise<Buffer> {
  const compressed = await compress(bytes, options.algorithm, options);
  if (options.encryptFor === undefined) return compressed;
  const { keyring, instanceId, aad } = options.encryptFor;
  return keyring.encrypt(instanceId, compressed, aad);
}

/** Seals the canonical JSON of a state (equal states, equal checksums inside). */
export function sealState(state: JsonValue, options: SealOptions): Promise<Buffer> {
  return sealBlob(canonicalJson(state), options);
}

/**
 * Opens a blob made by {@link sealBlob}: decrypts when it is encrypted (a
 * keyring is then required), decompresses, verifies size and SHA-256.
 * @throws DecodeError, ChecksumMismatchError, TooLargeError, KeyError,
 *   KeyDestroyedError, AuthenticationFailedError
 */
export async function openBlob(blob: Uint8Array, options: { keyring?: Keyring; aad?: Uint8Array } & DecompressionLimits = {}): Promise<Buffer> {
  const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  let inner = buf;
  if (buf.subarray(0, 4).equals(ENCRYPTED)) {
    if (options.keyring === undefined) throw new DecodeError('blob', 'it is encrypted and no keyring was given');
    inner = await options.keyring.decrypt(buf, options.aad);
  }
  return decompress(inner, options);
}

/** Opens a sealed state. */
export async function openState(blob: Uint8Array, options: { keyring?: Keyring; aad?: Uint8Array } & DecompressionLimits = {}): Promise<JsonValue> {
  return parseJson((await openBlob(blob, options)).toString('utf8'), 'sealed state');
}

/** Reads a blob's framing without keys. @throws DecodeError when it is neither frame */
export function describeBlob(blob: Uint8Array, keyIdOf?: (frame: Uint8Array) => string): BlobInfo {
  const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const magic = buf.subarray(0, 4);
  if (magic.equals(ENCRYPTED)) {
    return { encrypted: true, keyId: keyIdOf ? keyIdOf(buf) : null, compression: null };
  }
  if (magic.equals(COMPRESSED)) return { encrypted: false, keyId: null, compression: readCompressedHeader(buf, { maxOriginalBytes: Number.MAX_SAFE_INTEGER }) };
  throw new DecodeError('blob', `unknown magic ${magic.toString('hex')} (expected "ASCF" or "ASEF")`);
}
