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
  const state = { slow: false };
  const prepared = prepare(value, 0, '', state);
  // Fast path: V8's JSON.stringify over key-sorted objects is ~2.5x faster than
  // writing token by token. It cannot be used when an object has integer-like
  // keys ("9", "10"): JavaScript orders those numerically and first, RFC 8785
  // orders by code units.
  if (!state.slow) return JSON.stringify(prepared);
  const parts: string[] = [];
  write(prepared, parts);
  return parts.join('');
}

/**
 * True for a JSON scalar (null, string, boolean, finite number); false for an
 * object or array to walk, once its depth is checked.
 * @throws InvalidInputError for what JSON cannot hold, or nesting too deep
 */
function isScalar(value: unknown, depth: number, at: string): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      if (!Number.isFinite(value)) throw new InvalidInputError('JSON value', `${value} at ${at || '/'} is not finite`);
      return true;
    case 'object':
      if (value === null) return true;
      if (depth >= MAX_JSON_DEPTH) throw new InvalidInputError('JSON value', `nesting deeper than ${MAX_JSON_DEPTH} at ${at}`);
      return false;
    default:
      throw new InvalidInputError('JSON value', `${typeof value} at ${at || '/'} is not JSON`);
  }
}

const INTEGER_KEY = /^(0|[1-9][0-9]{0,9})$/;

/**
 * Validates a value as JSON and returns it with every object's keys in sorted
 * order (copying only the objects that need it; the input is never mutated).
 */
function prepare(value: unknown, depth: number, at: string, state: { slow: boolean }): unknown {
  if (isScalar(value, depth, at)) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === undefined) throw new InvalidInputError('JSON value', `undefined array item at ${at}/${i}`);
      const p = prepare(item, depth + 1, `${at}/${i}`, state);
      if (p !== item) (copy ??= value.slice())[i] = p;
    }
    return copy ?? value;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const name = (value as object).constructor?.name ?? 'object';
    throw new InvalidInputError('JSON value', `${name} at ${at || '/'} is not a plain JSON object`);
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  let changed = false;
  const prepared: unknown[] = new Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (INTEGER_KEY.test(key)) state.slow = true;
    if (i > 0 && (keys[i - 1] as string) > key) changed = true;
    const item = record[key];
    if (item === undefined) {
      changed = true;
      continue;
    }
    const p = prepare(item, depth + 1, `${at}/${key}`, state);
    if (p !== item) changed = true;
    prepared[i] = p;
  }
  if (!changed) return value;
  // Default sort compares UTF-16 code units, which is what RFC 8785 asks for.
  const order = keys.map((_, i) => i).sort((x, y) => ((keys[x] as string) < (keys[y] as string) ? -1 : 1));
  const copy: Record<string, unknown> = {};
  for (const i of order) {
    const key = keys[i] as string;
    if (record[key] === undefined) continue;
    if (key === '__proto__') Object.defineProperty(copy, key, { value: prepared[i], enumerable: true, writable: true, configurable: true });
    else copy[key] = prepared[i];
  }
  return copy;
}

/** Token-by-token writer for prepared values (sorted, validated) whose objects have integer-like keys. */
function write(value: unknown, out: string[]): void {
  if (value === null || typeof value !== 'object') {
    out.push(JSON.stringify(value));
    return;
  }
  if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      write(value[i], out);
    }
    out.push(']');
    return;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  out.push('{');
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (i > 0) out.push(',');
    out.push(JSON.stringify(key), ':');
    write(record[key], out);
  }
  out.push('}');
}

/**
 * A value as a JSON value, the way `JSON.stringify` reads it where that is
 * lossless: `toJSON` is applied (a Date becomes its ISO string) and
 * properties set to `undefined` are dropped. Anything JSON cannot hold is
 * refused rather than silently changed (`JSON.stringify` would turn NaN into
 * null and a Map into `{}`). Returns the input itself, uncopied, when it is
 * already plain JSON: one walk, no allocation on the common path.
 * @throws InvalidInputError on non-finite numbers, bigint, functions,
 *   symbols, `undefined` array items, non-plain objects without `toJSON`, or
 *   nesting deeper than {@link MAX_JSON_DEPTH}
 */
export function toJsonValue(value: unknown, at = ''): JsonValue {
  return plain(value, 0, at) as JsonValue;
}

function plain(value: unknown, depth: number, at: string): unknown {
  if (isScalar(value, depth, at)) return Object.is(value, -0) ? 0 : value; // JSON has no -0
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === undefined) throw new InvalidInputError('JSON value', `undefined array item at ${at}/${i}`);
      const p = plain(item, depth + 1, `${at}/${i}`);
      if (!Object.is(p, item)) (copy ??= value.slice())[i] = p;
    }
    return copy ?? value;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return plain(toJSON.call(value, at.split('/').at(-1) ?? ''), depth, at);
    const name = (value as object).constructor?.name ?? 'object';
    throw new InvalidInputError('JSON value', `${name} at ${at || '/'} is not a plain JSON object`);
  }
  const record = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(record)) {
    const item = record[key];
    if (item === undefined) {
      copy ??= { ...record };
      delete copy[key];
      continue;
    }
    const p = plain(item, depth + 1, `${at}/${key}`);
    if (!Object.is(p, item)) {
      copy ??= { ...record };
      copy[key] = p;
    }
  }
  return copy ?? value;
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
