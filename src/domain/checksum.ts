import { createHash, hash as oneShotHash } from 'node:crypto';
import { InvalidInputError } from './errors.js';
import { MAX_JSON_DEPTH } from './json.js';

/**
 * The state checksum is a hash tree over the canonical JSON of the state
 * (DESIGN.md Invariant 2; the wire contract is spelled out in docs/domain.md,
 * "State checksum (hash tree)", with vectors in test/fixtures/checksum-vectors.json):
 *
 *   hash(v) = SHA-256(text(v)), lowercase hex
 *   text(v) = the canonical JSON of v, except that every object or array
 *             nested *directly* in v is written as `#` + hash(child)
 *
 * A node's text names its kind by its first character (`{`, `[`, or a
 * scalar's own JSON) and `#` can start no JSON value, so texts of different
 * trees never coincide. Scalars are written inline rather than hashed one by
 * one: a scalar cannot key a WeakMap, so a per-scalar hash would be recomputed
 * on every update anyway, and a 1536-float embedding would cost 1536 hashes.
 * A state without nested containers hashes exactly like SHA-256 of its
 * canonical JSON.
 *
 * States are immutable and structurally shared (`applyChanges` and the draft
 * copy only the containers on changed paths), so remembering each container's
 * hash by identity makes a rehash touch only the new containers: the changed
 * path and each changed node's direct children. Nothing may mutate a
 * container once it is part of a state; the tests freeze states to hold the
 * domain to that.
 */
interface NodeHash {
  hash: string;
  /** Levels of containers from this node down (1 = no nested container), so a memo hit still enforces MAX_JSON_DEPTH. */
  height: number;
  /** UTF-8 bytes of the subtree's canonical JSON (its text with each `#hash` replaced by the child's JSON). */
  bytes: number;
}

const memo = new WeakMap<object, NodeHash>();

/** A `#` and 64 hex digits: what a nested container takes in its parent's text. */
const CHILD_REF_BYTES = 65;

/**
 * The `stateChecksum` every event carries and the projector recomputes: the
 * root of the hash tree over `state`. Incremental: containers hashed before
 * (by identity) are not rehashed.
 * @throws InvalidInputError when `state` is not JSON (as canonicalJson)
 */
export function checksum(state: unknown): string {
  return rootHash(state, memo);
}

/**
 * The same root as {@link checksum}, recomputed from every node without the
 * memo: what a verifier (snapshot load, restore, `verify`, tests) uses when it
 * must not trust earlier work.
 * @throws InvalidInputError when `state` is not JSON
 */
export function checksumFromScratch(state: unknown): string {
  return rootHash(state, undefined);
}

function rootHash(state: unknown, cache: WeakMap<object, NodeHash> | undefined): string {
  const scalar = scalarText(state, 0, '');
  if (scalar !== undefined) return oneShotHash('sha256', scalar, 'hex');
  return hashNode(state as object, 0, '', cache).hash;
}

/**
 * The path of a node for error messages: `at` and its `key`, joined only when
 * an error names it (building it for every child of every hashed node was a
 * visible cost of each update; issue 10).
 */
function where(at: string, key: string | number | undefined): string {
  return key === undefined ? at : `${at}/${key}`;
}

/**
 * The canonical JSON of a scalar, or undefined for a container (after
 * checking it may sit at `depth`). The value sits at `at` (+ `/key`).
 * @throws InvalidInputError for what JSON cannot hold, or nesting too deep
 */
function scalarText(value: unknown, depth: number, at: string, key?: string | number): string | undefined {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new InvalidInputError('JSON value', `${value} at ${where(at, key) || '/'} is not finite`);
      return JSON.stringify(value); // shortest round-trip form; -0 becomes 0
    case 'object':
      if (value === null) return 'null';
      if (depth >= MAX_JSON_DEPTH) throw new InvalidInputError('JSON value', `nesting deeper than ${MAX_JSON_DEPTH} at ${where(at, key)}`);
      if (!Array.isArray(value)) {
        const proto: unknown = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          const name = (value as object).constructor?.name ?? 'object';
          throw new InvalidInputError('JSON value', `${name} at ${where(at, key) || '/'} is not a plain JSON object`);
        }
      }
      return undefined;
    default:
      throw new InvalidInputError('JSON value', `${typeof value} at ${where(at, key) || '/'} is not JSON`);
  }
}

/** A nested container's hash (at `at`/`key`): remembered (a memo hit was validated when first hashed), or checked and computed. */
function childHash(node: object, depth: number, at: string, key: string | number, cache: WeakMap<object, NodeHash> | undefined): NodeHash {
  const known = cache?.get(node);
  if (known !== undefined) {
    if (depth + known.height > MAX_JSON_DEPTH) throw new InvalidInputError('JSON value', `nesting deeper than ${MAX_JSON_DEPTH} below ${where(at, key) || '/'}`);
    return known;
  }
  scalarText(node, depth, at, key); // depth and plain-object checks
  return hashNode(node, depth, where(at, key), cache);
}

function hashNode(node: object, depth: number, at: string, cache: WeakMap<object, NodeHash> | undefined): NodeHash {
  const known = cache?.get(node);
  if (known !== undefined) {
    if (depth + known.height > MAX_JSON_DEPTH) throw new InvalidInputError('JSON value', `nesting deeper than ${MAX_JSON_DEPTH} below ${at || '/'}`);
    return known;
  }
  let height = 1;
  let text: string;
  /** Canonical bytes of the nested containers, less the `#hash` each takes in `text`. */
  let nested = 0;
  if (Array.isArray(node)) {
    text = '[';
    for (let i = 0; i < node.length; i++) {
      const item: unknown = node[i];
      if (item === undefined) throw new InvalidInputError('JSON value', `undefined array item at ${at}/${i}`);
      if (i > 0) text += ',';
      const s = typeof item === 'object' && item !== null ? undefined : scalarText(item, depth + 1, at, i);
      if (s !== undefined) text += s;
      else {
        const child = childHash(item as object, depth + 1, at, i, cache);
        if (child.height >= height) height = child.height + 1;
        nested += child.bytes - CHILD_REF_BYTES;
        text += '#' + child.hash;
      }
    }
    text += ']';
  } else {
    const record = node as Record<string, unknown>;
    // Default sort compares UTF-16 code units, as canonical JSON (RFC 8785) orders keys.
    const keys = Object.keys(record).sort();
    text = '{';
    let first = true;
    for (const key of keys) {
      const item = record[key];
      if (item === undefined) continue; // omitted, as canonical JSON omits it
      text += (first ? '' : ',') + JSON.stringify(key) + ':';
      first = false;
      const s = typeof item === 'object' && item !== null ? undefined : scalarText(item, depth + 1, at, key);
      if (s !== undefined) text += s;
      else {
        const child = childHash(item as object, depth + 1, at, key, cache);
        if (child.height >= height) height = child.height + 1;
        nested += child.bytes - CHILD_REF_BYTES;
        text += '#' + child.hash;
      }
    }
    text += '}';
  }
  const result: NodeHash = { hash: oneShotHash('sha256', text, 'hex'), height, bytes: Buffer.byteLength(text, 'utf8') + nested };
  cache?.set(node, result);
  return result;
}

/**
 * The hash-tree hash of any JSON value (its root, as {@link checksum}), using
 * and filling the memo: the diff uses it as a cheap deep-equality key for
 * array items.
 * @throws InvalidInputError when `value` is not JSON
 */
export function nodeKey(value: unknown): string {
  const scalar = scalarText(value, 0, '');
  return scalar !== undefined ? scalar : '#' + hashNode(value as object, 0, '', memo).hash;
}

/**
 * UTF-8 bytes of the canonical JSON of any JSON value. A container hashed
 * before (a state's subtree, e.g. the chat turn an update drops) answers from
 * the memo without being written out again; any other is hashed once (and
 * remembered), which costs about what writing it out would.
 * @throws InvalidInputError when `value` is not JSON
 */
export function canonicalBytes(value: unknown): number {
  const scalar = scalarText(value, 0, '');
  return scalar !== undefined ? Buffer.byteLength(scalar, 'utf8') : hashNode(value as object, 0, '', memo).bytes;
}

/** SHA-256 of a string (UTF-8) or bytes, lowercase hex. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** True when `value` looks like a checksum this module produces (64 lowercase hex digits). */
export function isChecksum(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);
}
