import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { TooLargeError } from '../domain/errors.js';
import { AuthenticationFailedError, DecodeError } from './errors.js';

/*
 * Ciphertext frame (big-endian), self-describing so a restore needs only the keyring:
 *   0  4  magic "ASEF" (agentstate encrypted frame)
 *   4  1  format version (1)
 *   5  1  cipher id (1 = AES-256-GCM)
 *   6  2  key id length K (1..512)
 *   8  K  key id, UTF-8 (`<instanceId>/dk/<version>`)
 *   .  12 IV (random per frame)
 *   .  8  ciphertext length N
 *   .  N  ciphertext
 *   .  16 GCM tag
 * Everything before the ciphertext is authenticated as associated data, so a
 * swapped key id or length fails authentication instead of misleading a reader.
 */
/** The first 4 bytes of every encrypted frame. */
export const CIPHER_FRAME_MAGIC = Buffer.from('ASEF', 'latin1');
const MAGIC = CIPHER_FRAME_MAGIC;
const VERSION = 1;
const AES_256_GCM = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const MAX_KEY_ID = 512;
const DEFAULT_MAX_PLAINTEXT = 256 * 1024 * 1024;

/** What a ciphertext frame header says. */
export interface CipherFrameHeader {
  keyId: string;
  iv: Buffer;
  ciphertextLength: number;
  /** Header bytes (authenticated). */
  header: Buffer;
  /** Offset of the ciphertext in the frame. */
  bodyOffset: number;
}

/** Encrypts under `key` (32 bytes) into a frame naming `keyId`; `aad` binds context (e.g. instance and version). */
export function sealFrame(key: Buffer, keyId: string, plaintext: Buffer, aad?: Buffer): Buffer {
  const id = Buffer.from(keyId, 'utf8');
  if (id.length === 0 || id.length > MAX_KEY_ID) throw new DecodeError('key id', `length ${id.length} not in 1..${MAX_KEY_ID}`);
  const iv = randomBytes(IV_BYTES);
  const header = Buffer.alloc(8 + id.length + IV_BYTES + 8);
  MAGIC.copy(header, 0);
  header[4] = VERSION;
  header[5] = AES_256_GCM;
  header.writeUInt16BE(id.length, 6);
  id.copy(header, 8);
  iv.copy(header, 8 + id.length);
  header.writeBigUInt64BE(BigInt(plaintext.length), 8 + id.length + IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad ? Buffer.concat([header, aad]) : header);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, body, cipher.getAuthTag()]);
}

/**
 * Parses and bounds-checks a frame header without decrypting.
 * @throws DecodeError on bad magic/version/cipher or a truncated frame; TooLargeError over the limit
 */
export function readCipherHeader(frame: Buffer, maxPlaintextBytes = DEFAULT_MAX_PLAINTEXT): CipherFrameHeader {
  if (frame.length < 8) throw new DecodeError('encrypted frame', `${frame.length} bytes is shorter than the 8-byte prefix`);
  if (!frame.subarray(0, 4).equals(MAGIC)) throw new DecodeError('encrypted frame', `bad magic ${frame.subarray(0, 4).toString('hex')} (expected "ASEF")`);
  if (frame[4] !== VERSION) throw new DecodeError('encrypted frame', `unsupported format version ${frame[4]}`);
  if (frame[5] !== AES_256_GCM) throw new DecodeError('encrypted frame', `unknown cipher id ${frame[5]}`);
  const idLength = frame.readUInt16BE(6);
  if (idLength === 0 || idLength > MAX_KEY_ID) throw new DecodeError('encrypted frame', `key id length ${idLength} not in 1..${MAX_KEY_ID}`);
  const bodyOffset = 8 + idLength + IV_BYTES + 8;
  if (frame.length < bodyOffset + TAG_BYTES) throw new DecodeError('encrypted frame', `truncated: ${frame.length} bytes, header alone needs ${bodyOffset + TAG_BYTES}`);
  const length = frame.readBigUInt64BE(8 + idLength + IV_BYTES);
  if (length > BigInt(maxPlaintextBytes)) throw new TooLargeError('encrypted frame plaintext', Number(length), maxPlaintextBytes);
  if (length !== BigInt(frame.length - bodyOffset - TAG_BYTES)) {
    throw new DecodeError('encrypted frame', `declares ${length} ciphertext bytes but ${frame.length - bodyOffset - TAG_BYTES} are present (truncated or padded)`);
  }
  return {
    keyId: frame.subarray(8, 8 + idLength).toString('utf8'),
    iv: frame.subarray(8 + idLength, 8 + idLength + IV_BYTES),
    ciphertextLength: Number(length),
    header: frame.subarray(0, bodyOffset),
    bodyOffset,
  };
}

/**
 * Decrypts a frame whose header was read by {@link readCipherHeader}.
 * @throws AuthenticationFailedError when the tag does not verify (tampering or a wrong key)
 */
export function openFrame(key: Buffer, frame: Buffer, header: CipherFrameHeader, aad?: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, header.iv);
  decipher.setAAD(aad ? Buffer.concat([header.header, aad]) : header.header);
  decipher.setAuthTag(frame.subarray(frame.length - TAG_BYTES));
  const body = frame.subarray(header.bodyOffset, frame.length - TAG_BYTES);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch (error) {
    throw new AuthenticationFailedError(`encrypted frame under ${header.keyId}`, { cause: error });
  }
}

/** Wraps a 32-byte data key under a master key: IV ‖ ciphertext ‖ tag, bound to both key ids. */
export function wrapKey(masterKey: Buffer, dataKey: Buffer, context: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  return Buffer.concat([iv, cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
}

/** Inverse of {@link wrapKey}; throws a plain Error when the master key or context is wrong (the caller types it). */
export function unwrapKey(masterKey: Buffer, wrapped: Buffer, context: string): Buffer {
  if (wrapped.length !== IV_BYTES + 32 + TAG_BYTES) throw new Error(`wrapped key is ${wrapped.length} bytes, expected ${IV_BYTES + 32 + TAG_BYTES}`);
  const decipher = createDecipheriv('aes-256-gcm', masterKey, wrapped.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(wrapped.subarray(wrapped.length - TAG_BYTES));
  return Buffer.concat([decipher.update(wrapped.subarray(IV_BYTES, wrapped.length - TAG_BYTES)), decipher.final()]);
}
