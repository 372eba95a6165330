import { InvalidInputError, InvalidPathError } from './errors.js';
import { isJsonObject, jsonEqual, type JsonObject, type JsonValue } from './json.js';
import { arrayEdits } from './array-diff.js';
import { canonicalBytes, nodeKey } from './checksum.js';
import { arrayIndex, formatPath, parsePath } from './paths.js';

/** What a change does at its path. */
export type ChangeOp = 'create' | 'update' | 'delete';

/**
 * One change of a changeset (DESIGN.md: `{path, op, oldValue, newValue}`).
 * `path` is a JSON Pointer. `create` inserts (object key must be absent; array
 * index `0..length` or `-` inserts before it), `update` replaces an existing
 * value, `delete` removes it (array items shift down). `oldValue` is for
 * audit and inversion only; apply, fold and checksums never read it. Writers
 * leave a large one out ({@link elideOldValues}) and set `oldBytes` instead:
 * the value is still the one at `path` in the state before the event.
 */
export interface Change {
  path: string;
  op: ChangeOp;
  oldValue?: JsonValue;
  newValue?: JsonValue;
  /**
   * UTF-8 byte length of the canonical JSON of the old value, set (only) when
   * `oldValue` was left out of the event; size accounting (analytics) reads it.
   */
  oldBytes?: number;
}

/**
 * Old values whose canonical JSON is longer than this many bytes are left out
 * of the events a client writes by default (`oldValueMaxBytes`): a chat
 * window's dropped turn would otherwise double every event (issue 10).
 */
export const OLD_VALUE_MAX_BYTES = 256;

/**
 * `changes` with every `oldValue` longer than `maxBytes` (canonical JSON,
 * UTF-8) replaced by its size, `oldBytes`. Nothing the state needs is lost:
 * apply never reads `oldValue`, and the value is the one at the change's path
 * in the state before the event (`invertChanges(changes, before)` reads it
 * back from there). Returns `changes` itself when nothing is left out.
 */
export function elideOldValues(changes: Change[], maxBytes: number): Change[] {
  let out: Change[] | undefined;
  for (let i = 0; i < changes.length; i++) {
    const c = changes[i] as Change;
    if (c.oldValue === undefined || c.oldValue === null || (typeof c.oldValue !== 'object' && typeof c.oldValue !== 'string')) continue;
    // A string of at most maxBytes / 3 - 1 code units cannot be over (3 UTF-8 bytes per code unit at most, plus quotes).
    if (typeof c.oldValue === 'string' && c.oldValue.length * 3 + 2 <= maxBytes) continue;
    // An old value is part of the state before the event, so its hash tree
    // (and with it its canonical size) is usually remembered: no write-out.
    const size = canonicalBytes(c.oldValue);
    if (size <= maxBytes) continue;
    out ??= changes.slice();
    const elided: Change = { path: c.path, op: c.op, oldBytes: size };
    if (c.newValue !== undefined) elided.newValue = c.newValue;
    out[i] = elided;
  }
  return out ?? changes;
}

/** Arrays at least this long whose changes outnumber half of their items are replaced whole. */
const ARRAY_REPLACE_MIN = 8;

/**
 * The changes that turn `a` into `b`, deterministic (object keys visited in
 * sorted order). Work is proportional to what differs: subtrees shared by
 * identity (states are structurally shared) are skipped without a walk.
 * Arrays get a real diff (common prefix and suffix, then Myers on the
 * middle: see array-diff.ts), so appending to a conversation and dropping its
 * oldest turn is one `create` and one `delete`, whatever the array's length;
 * items edited in place are diffed inside. An array that mostly changed (e.g.
 * a re-computed embedding vector) becomes one `update`. Array indices are
 * numeric (never `-`), so every changeset inverts (`invertChanges`).
 * Invariant: `applyChanges(a, diff(a, b))` deep-equals `b`.
 */
export function diff(a: JsonValue, b: JsonValue): Change[] {
  const out: Change[] = [];
  diffAt(a, b, [], out);
  return out;
}

function diffAt(a: JsonValue, b: JsonValue, at: (string | number)[], out: Change[]): void {
  if (a === b) return;
  if (isJsonObject(a) && isJsonObject(b)) {
    // Only keys whose values differ by identity are sorted and visited.
    const keys: string[] = [];
    for (const key of Object.keys(a)) if (!Object.hasOwn(b, key) || a[key] !== b[key]) keys.push(key);
    for (const key of Object.keys(b)) if (!Object.hasOwn(a, key)) keys.push(key);
    keys.sort();
    for (const key of keys) {
      const inA = Object.hasOwn(a, key);
      const inB = Object.hasOwn(b, key);
      const path = [...at, key];
      if (inA && !inB) out.push({ path: formatPath(path), op: 'delete', oldValue: a[key] as JsonValue });
      else if (!inA && inB) out.push({ path: formatPath(path), op: 'create', newValue: b[key] as JsonValue });
      else diffAt(a[key] as JsonValue, b[key] as JsonValue, path, out);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    diffArray(a, b, at, out);
    return;
  }
  if (jsonEqual(a, b)) return;
  out.push({ path: formatPath(at), op: 'update', oldValue: a, newValue: b });
}

function diffArray(a: JsonValue[], b: JsonValue[], at: (string | number)[], out: Change[]): void {
  const start = out.length;
  // `j` is the index in the array being rebuilt: items before it already equal b's.
  let j = 0;
  for (const edit of arrayEdits(a, b, sameItem)) {
    if (edit.op === 'keep') j++;
    else if (edit.op === 'pair') diffAt(a[edit.a] as JsonValue, b[edit.b] as JsonValue, [...at, j++], out);
    else if (edit.op === 'delete') out.push({ path: formatPath([...at, j]), op: 'delete', oldValue: a[edit.a] as JsonValue });
    else out.push({ path: formatPath([...at, j++]), op: 'create', newValue: b[edit.b] as JsonValue });
  }
  const size = Math.max(a.length, b.length);
  if (at.length > 0 && size >= ARRAY_REPLACE_MIN && out.length - start > size / 2) {
    out.length = start;
    out.push({ path: formatPath(at), op: 'update', oldValue: a, newValue: b });
  }
}

/** Deep equality of two items: identity, else their hash-tree keys (memoised, so shared subtrees cost a lookup). */
function sameItem(x: JsonValue, y: JsonValue): boolean {
  if (x === y) return true;
  if (typeof x !== typeof y) return false;
  if (typeof x !== 'object' || x === null || y === null) return jsonEqual(x, y);
  return nodeKey(x) === nodeKey(y);
}

/**
 * Applies `changes` in order to a copy of `doc` (the input is never mutated:
 * only the containers on each changed path are copied). Strict, so a corrupt
 * or misordered changeset fails loudly instead of producing a silently
 * different state (DESIGN.md Invariant 2).
 * @throws InvalidPathError when a path is malformed, does not resolve, or the
 *   op does not fit (create on an existing key, update/delete of a missing one)
 * @throws InvalidInputError when a create/update carries no `newValue` or the op is unknown
 */
export function applyChanges<T extends JsonValue>(doc: T, changes: readonly Change[]): T {
  const root: { v: JsonValue } = { v: doc };
  // Containers already copied in this call may be mutated in place.
  const owned = new WeakSet<object>();
  for (const change of changes) applyOne(root, change, owned);
  return root.v as T;
}

function applyOne(root: { v: JsonValue }, change: Change, owned: WeakSet<object>): void {
  const { path, op } = change;
  if (op !== 'create' && op !== 'update' && op !== 'delete') {
    throw new InvalidInputError('change', `unknown op ${JSON.stringify(op)} at ${JSON.stringify(path)}`);
  }
  if (op !== 'delete' && change.newValue === undefined) {
    throw new InvalidInputError('change', `${op} at ${JSON.stringify(path)} has no newValue`);
  }
  const segments = parsePath(path);
  if (segments.length === 0) {
    if (op !== 'update') throw new InvalidPathError(path, `${op} of the whole document is not allowed; use update`);
    root.v = change.newValue as JsonValue;
    return;
  }
  // Walk to the parent, copying each container on the way (copy-on-write).
  let parent = own(root.v, owned, path, 0);
  root.v = parent;
  for (let i = 0; i < segments.length - 1; i++) {
    const seg = segments[i] as string;
    let child: JsonValue | undefined;
    if (Array.isArray(parent)) {
      const idx = arrayIndex(path, seg, parent.length, false);
      child = own(parent[idx] as JsonValue, owned, path, i + 1);
      parent[idx] = child;
    } else {
      if (!Object.hasOwn(parent, seg)) throw new InvalidPathError(path, `segment ${i} ${JSON.stringify(seg)} does not exist`);
      child = own(parent[seg] as JsonValue, owned, path, i + 1);
      parent[seg] = child;
    }
    parent = child;
  }
  const last = segments[segments.length - 1] as string;
  if (Array.isArray(parent)) {
    if (op === 'create') parent.splice(arrayIndex(path, last, parent.length, true), 0, change.newValue as JsonValue);
    else if (op === 'update') parent[arrayIndex(path, last, parent.length, false)] = change.newValue as JsonValue;
    else parent.splice(arrayIndex(path, last, parent.length, false), 1);
    return;
  }
  const exists = Object.hasOwn(parent, last);
  if (op === 'create') {
    if (exists) throw new InvalidPathError(path, 'create of a key that already exists');
    setKey(parent, last, change.newValue as JsonValue);
  } else if (!exists) {
    throw new InvalidPathError(path, `${op} of a key that does not exist`);
  } else if (op === 'update') {
    parent[last] = change.newValue as JsonValue;
  } else {
    delete parent[last];
  }
}

/** `__proto__` must become an own data property, never the prototype. */
function setKey(obj: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}

function own(value: JsonValue, owned: WeakSet<object>, path: string, depth: number): JsonObject | JsonValue[] {
  if (value === null || typeof value !== 'object') {
    throw new InvalidPathError(path, `segment ${depth - 1} resolves to a ${value === null ? 'null' : typeof value}, not a container`);
  }
  if (owned.has(value)) return value;
  let copy: JsonObject | JsonValue[];
  if (Array.isArray(value)) copy = value.slice();
  else copy = { ...value }; // own data properties: a `__proto__` key stays data
  owned.add(copy);
  return copy;
}

/**
 * The changeset that undoes `changes` (reverse order, create ↔ delete, old ↔ new):
 * `applyChanges(applyChanges(a, c), invertChanges(c, a))` equals `a`. An old
 * value left out of the changeset ({@link elideOldValues}) is read from
 * `before`, the state the changes apply to. (Rollback itself diffs the head
 * against the target state and does not need this.)
 * @throws InvalidInputError when a change lacks its `oldValue` and no `before` is given
 * @throws InvalidPathError when `changes` do not apply to `before`
 */
export function invertChanges(changes: readonly Change[], before?: JsonValue): Change[] {
  const olds = before !== undefined && changes.some((c) => c.op !== 'create' && c.oldValue === undefined) ? oldValuesIn(before, changes) : undefined;
  const out: Change[] = [];
  for (let i = changes.length - 1; i >= 0; i--) {
    const c = changes[i] as Change;
    if (c.op === 'create') out.push({ path: c.path, op: 'delete', oldValue: c.newValue as JsonValue });
    else {
      const old = c.oldValue !== undefined ? c.oldValue : olds?.[i];
      if (old === undefined) throw new InvalidInputError('change', `${c.op} at ${JSON.stringify(c.path)} has no oldValue to invert (pass the state before it)`);
      if (c.op === 'delete') out.push({ path: c.path, op: 'create', newValue: old });
      else out.push({ path: c.path, op: 'update', oldValue: c.newValue as JsonValue, newValue: old });
    }
  }
  return out;
}

/** The value each change replaces or removes, read from the state it applies to. */
function oldValuesIn(before: JsonValue, changes: readonly Change[]): (JsonValue | undefined)[] {
  const olds: (JsonValue | undefined)[] = [];
  let state = before;
  for (const c of changes) {
    olds.push(c.op === 'create' ? undefined : valueAt(state, c.path));
    state = applyChanges(state, [c]);
  }
  return olds;
}

function valueAt(doc: JsonValue, path: string): JsonValue {
  let node = doc;
  for (const seg of parsePath(path)) {
    if (Array.isArray(node)) node = node[arrayIndex(path, seg, node.length, false)] as JsonValue;
    else if (isJsonObject(node) && Object.hasOwn(node, seg)) node = node[seg] as JsonValue;
    else throw new InvalidPathError(path, `segment ${JSON.stringify(seg)} does not exist`);
  }
  return node;
}
