import { InvalidInputError, InvalidPathError } from './errors.js';
import { isJsonObject, jsonEqual, type JsonObject, type JsonValue } from './json.js';
import { arrayIndex, formatPath, parsePath } from './paths.js';

/** What a change does at its path. */
export type ChangeOp = 'create' | 'update' | 'delete';

/**
 * One change of a changeset (DESIGN.md: `{path, op, oldValue, newValue}`).
 * `path` is a JSON Pointer. `create` inserts (object key must be absent; array
 * index `0..length` or `-` inserts before it), `update` replaces an existing
 * value, `delete` removes it (array items shift down). `oldValue` is kept for
 * audit and for inverting a changeset (rollback); apply does not need it.
 */
export interface Change {
  path: string;
  op: ChangeOp;
  oldValue?: JsonValue;
  newValue?: JsonValue;
}

/** Arrays longer than this whose changes touch more than half of the items are replaced whole. */
const ARRAY_REPLACE_MIN = 8;

/**
 * The changes that turn `a` into `b`, deterministic (object keys visited in
 * sorted order). Arrays: common prefix diffed item by item, then appends
 * (creates at the end) or deletes from the end, so appending to a task history
 * or a conversation costs one change per new item. An array that mostly
 * changed (e.g. a re-computed embedding vector) becomes one `update`.
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
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
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
    const start = out.length;
    const common = Math.min(a.length, b.length);
    for (let i = 0; i < common; i++) diffAt(a[i] as JsonValue, b[i] as JsonValue, [...at, i], out);
    for (let i = common; i < b.length; i++) out.push({ path: formatPath([...at, i]), op: 'create', newValue: b[i] as JsonValue });
    for (let i = a.length - 1; i >= common; i--) out.push({ path: formatPath([...at, i]), op: 'delete', oldValue: a[i] as JsonValue });
    const made = out.length - start;
    if (common >= ARRAY_REPLACE_MIN && made > common / 2 && at.length > 0) {
      out.length = start;
      out.push({ path: formatPath(at), op: 'update', oldValue: a, newValue: b });
    }
    return;
  }
  if (jsonEqual(a, b)) return;
  out.push({ path: formatPath(at), op: 'update', oldValue: a, newValue: b });
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
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

function own(value: JsonValue, owned: WeakSet<object>, path: string, depth: number): JsonObject | JsonValue[] {
  if (value === null || typeof value !== 'object') {
    throw new InvalidPathError(path, `segment ${depth - 1} resolves to a ${value === null ? 'null' : typeof value}, not a container`);
  }
  if (owned.has(value)) return value;
  let copy: JsonObject | JsonValue[];
  if (Array.isArray(value)) copy = value.slice();
  else {
    copy = {};
    for (const k of Object.keys(value)) setKey(copy, k, value[k] as JsonValue);
  }
  owned.add(copy);
  return copy;
}

/**
 * The changeset that undoes `changes` (reverse order, create ↔ delete, old ↔ new):
 * `applyChanges(applyChanges(a, c), invertChanges(c))` equals `a`. Used to build
 * `state_rolled_back` events (DESIGN.md Invariant 5: history is immutable).
 * @throws InvalidInputError when a change lacks the `oldValue` needed to invert it
 */
export function invertChanges(changes: readonly Change[]): Change[] {
  const out: Change[] = [];
  for (let i = changes.length - 1; i >= 0; i--) {
    const c = changes[i] as Change;
    if (c.op === 'create') out.push({ path: c.path, op: 'delete', oldValue: c.newValue as JsonValue });
    else {
      if (c.oldValue === undefined) throw new InvalidInputError('change', `${c.op} at ${JSON.stringify(c.path)} has no oldValue to invert`);
      if (c.op === 'delete') out.push({ path: c.path, op: 'create', newValue: c.oldValue });
      else out.push({ path: c.path, op: 'update', oldValue: c.newValue as JsonValue, newValue: c.oldValue });
    }
  }
  return out;
}
