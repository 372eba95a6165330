import { createHash } from 'node:crypto';

/** Longest encoded segment, in bytes: well inside every file system's 255-byte name limit and S3's 1024-byte keys. */
export const MAX_KEY_SEGMENT_BYTES = 200;

const PLAIN = /[A-Za-z0-9_.-]/;

/**
 * An instance id as one segment of an object key or a file name. Ids may hold
 * `.`, `..`, `\`, `:` or 256 characters, any of which would escape a
 * deployment's prefix, name a directory, or pass a file-system limit. This
 * encoding keeps `[A-Za-z0-9_.-]` as it is and writes every other UTF-8 byte,
 * and a leading dot, as `~XX` (upper-case hex), so the result is never `.` or
 * `..`, holds no separator, and is reversible ({@link decodeKeySegment}). An
 * encoding longer than {@link MAX_KEY_SEGMENT_BYTES} keeps its first 150
 * bytes and appends `~~` and 40 hex digits of the id's SHA-256: unique, not
 * reversible (callers store the id beside the key, as snapshot records do).
 */
export function encodeKeySegment(id: string): string {
  let out = '';
  const bytes = Buffer.from(id, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const ch = String.fromCharCode(b);
    out += b < 0x80 && PLAIN.test(ch) && !(i === 0 && ch === '.') ? ch : `~${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out.length <= MAX_KEY_SEGMENT_BYTES) return out;
  return `${out.slice(0, 150)}~~${createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 40)}`;
}

/** Inverse of {@link encodeKeySegment}; undefined for a hashed (too long) or malformed segment. */
export function decodeKeySegment(segment: string): string | undefined {
  if (segment.includes('~~')) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < segment.length; i++) {
    const ch = segment[i]!;
    if (ch !== '~') {
      if (!PLAIN.test(ch)) return undefined;
      bytes.push(ch.charCodeAt(0));
      continue;
    }
    const hex = segment.slice(i + 1, i + 3);
    if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(bytes).toString('utf8');
}
