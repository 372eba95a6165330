import { InvalidInputError } from './errors.js';

/** A JSON value: what agent state, changeset values and metadata are made of. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
/** A JSON object. */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Most nesting accepted in a JSON value, so a hostile value cannot blow the stack. */
export const MAX_JSON_DEPTH = 512;

/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace,
 * numbers in ECMAScript shortest round-trip form (`1e+21`, `0.1`, `-0` → `0`),
 * strings escaped as `JSON.stringify` does. Same value → same bytes on every
 * run and machine: the input of every state checksum (DESIGN.md Invariant 2).
 * The rules match RFC 8785 (JCS) for all values JSON.parse can produce.
 * Properties whose value is `undefined` are omitted, as JSON.stringify does.
 * @throws InvalidInputError on non-finite numbers, bigint, functions, symbols,
 *   `undefined` array items, or nesting deeper than {@link MAX_JSON_DEPTH}
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, parts, 0, '');
  return parts.join('');
}

function write(value: unknown, out: string[], depth: number, at: string): void {
  switch (typeof value) {
    case 'string':
      out.push(JSON.stringify(value));
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new InvalidInputError('JSON value', `${value} at ${at || '/'} is not finite`);
      out.push(JSON.stringify(value));
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'object':
      break;
    default:
      throw new InvalidInputError('JSON value', `${typeof value} at ${at || '/'} is not JSON`);
  }
  if (value === null) {
    out.push('null');
    return;
  }
  if (depth >= MAX_JSON_DEPTH) throw new InvalidInputError('JSON value', `nesting deeper than ${MAX_JSON_DEPTH} at ${at}`);
  if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      const item: unknown = value[i];
      if (item === undefined) throw new InvalidInputError('JSON value', `undefined array item at ${at}/${i}`);
      write(item, out, depth + 1, `${at}/${i}`);
    }
    out.push(']');
    return;
  }
  const record = value as Record<string, unknown>;
  // Default sort compares UTF-16 code units, which is what RFC 8785 asks for.
  const keys = Object.keys(record).sort();
  out.push('{');
  let first = true;
  for (const key of keys) {
    const item = record[key];
    if (item === undefined) continue;
    if (!first) out.push(',');
    first = false;
    out.push(JSON.stringify(key), ':');
    write(item, out, depth + 1, `${at}/${key}`);
  }
  out.push('}');
}

/** Structural equality of two JSON values (object key order ignored). */
export function jsonEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined) return false;
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k) || !jsonEqual(a[k], b[k])) return false;
  }
  return true;
}

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses JSON text into a value, with a typed error naming `what` on failure.
 * @throws InvalidInputError
 */
export function parseJson(text: string, what: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    throw new InvalidInputError(what, `not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}
