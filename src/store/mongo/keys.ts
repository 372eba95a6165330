import type { JsonObject, JsonValue } from '../../domain/index.js';
import { setOwn } from '../state-fields.js';

/**
 * Reversible escaping of object keys for BSON documents (docs/store.md).
 *
 * MongoDB refuses or misreads field names that start with `$` or contain `.`
 * (queries take `.` as a path separator), BSON field names are C strings (no
 * NUL) in UTF-8 (a lone surrogate would become U+FFFD), and `""` and
 * `__proto__` are traps for drivers and JavaScript objects. Each such key is
 * percent-escaped, the way URLs are, and `%` itself too, so decoding is exact:
 *
 * | in the state | stored as |
 * |---|---|
 * | `%` | `%25` |
 * | `.` | `%2E` |
 * | `$` | `%24` |
 * | NUL | `%00` |
 * | a lone surrogate U+D800..U+DFFF | `%uD800` (4 hex digits) |
 * | the key `""` | `%` |
 * | the key `__proto__` | `%5F_proto__` |
 *
 * Keys without any of these (the overwhelming majority) are stored as they
 * are, so `{'performance.errorRate': {$gt: 0.1}}` works unchanged.
 *
 * One value change too: FerretDB v1 refuses an array directly inside an array
 * ("nested arrays are not supported"), so such an inner array is stored
 * wrapped as `{"%arr": [...]}`. No escaped key can be `%arr` (a literal `%`
 * is always `%25`), so the wrapper is unambiguous and unwrapped on read.
 */

const NEEDS_ESCAPE = /[%.$\u0000\uD800-\uDFFF]/;

export function escapeKey(key: string): string {
  if (key === '') return '%';
  if (key === '__proto__') return '%5F_proto__';
  if (!NEEDS_ESCAPE.test(key)) return key;
  let out = '';
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = key.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += key[i]! + key[i + 1]!;
        i++;
        continue;
      }
      out += `%u${c.toString(16).toUpperCase()}`;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      out += `%u${c.toString(16).toUpperCase()}`;
    } else if (c === 0x25) out += '%25';
    else if (c === 0x2e) out += '%2E';
    else if (c === 0x24) out += '%24';
    else if (c === 0) out += '%00';
    else out += key[i]!;
  }
  return out;
}

export function unescapeKey(key: string): string {
  if (key === '%') return '';
  if (!key.includes('%')) return key;
  return key.replace(/%(u[0-9A-F]{4}|[0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex.startsWith('u') ? hex.slice(1) : hex, 16)));
}

const ARRAY_WRAPPER = '%arr';

/** A copy of a JSON value with every object key escaped and arrays in arrays wrapped (other values untouched). */
export function escapeKeys(value: JsonValue): JsonValue {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => (Array.isArray(item) ? { [ARRAY_WRAPPER]: escapeKeys(item) } : escapeKeys(item)));
  const out: JsonObject = {};
  for (const key of Object.keys(value)) setOwn(out, escapeKey(key), escapeKeys(value[key]!));
  return out;
}

/** The inverse of {@link escapeKeys}, on what the driver read back. */
export function unescapeKeys(value: unknown): JsonValue {
  if (value === null || typeof value !== 'object') return value as JsonValue;
  if (Array.isArray(value)) return value.map((item: unknown) => unescapeKeys(unwrap(item)));
  const out: JsonObject = {};
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) setOwn(out, unescapeKey(key), unescapeKeys(record[key]));
  return out;
}

function unwrap(item: unknown): unknown {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return item;
  const keys = Object.keys(item);
  return keys.length === 1 && keys[0] === ARRAY_WRAPPER ? (item as Record<string, unknown>)[ARRAY_WRAPPER] : item;
}
