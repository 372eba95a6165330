import fc from 'fast-check';
import type { JsonValue } from '../../../src/domain/json.js';

/** Freezes a value and everything in it: a later mutation of a hashed state then throws instead of passing silently. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Every container of `value` with its path (segments), root first. */
export function containers(value: JsonValue, at: (string | number)[] = [], out: Array<{ path: (string | number)[]; node: JsonValue[] | Record<string, JsonValue> }> = []) {
  if (typeof value !== 'object' || value === null) return out;
  out.push({ path: at, node: value });
  if (Array.isArray(value)) value.forEach((v, i) => containers(v, [...at, i], out));
  else for (const k of Object.keys(value)) containers(value[k] as JsonValue, [...at, k], out);
  return out;
}

/** One random edit, as numbers an interpreter resolves against the current state (so any sequence is valid). */
export interface EditSeed {
  kind: 'set' | 'delete' | 'push' | 'shift' | 'splice' | 'move' | 'unshift' | 'reverse';
  where: number;
  pick: number;
  to: number;
  value: JsonValue;
}

/** Objects in arrays, the shape of conversations and task histories. */
export const message = fc.record({ role: fc.constantFrom('user', 'assistant'), content: fc.string({ maxLength: 40 }), n: fc.integer() });

export const editSeed = (value: fc.Arbitrary<JsonValue>): fc.Arbitrary<EditSeed> =>
  fc.record({
    kind: fc.constantFrom('set', 'delete', 'push', 'shift', 'splice', 'move', 'unshift', 'reverse'),
    where: fc.nat(),
    pick: fc.nat(),
    to: fc.nat(),
    value: fc.oneof(value, message as fc.Arbitrary<JsonValue>, fc.array(message as fc.Arbitrary<JsonValue>, { maxLength: 4 })),
  });

/** A state with a large subtree worth moving and an array of objects. */
export function bigState(n: number): Record<string, JsonValue> {
  const conversation = Array.from({ length: n }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `turn ${i}`, n: i }));
  return { memory: { conversation, facts: { a: { b: { c: [1, 2, 3] } } } }, tasks: [], meta: { v: 1 } };
}

function at(root: unknown, path: readonly (string | number)[]): any {
  let node: any = root;
  for (const s of path) node = node[s];
  return node;
}

/**
 * Applies one edit in place to `root` (a plain value or a draft: the same
 * JavaScript runs on both). `shape` is a plain snapshot of the current state
 * used to choose the target deterministically.
 */
export function applyEdit(root: any, shape: JsonValue, e: EditSeed): void {
  const all = containers(shape);
  const target = all[e.where % all.length]!;
  const node = at(root, target.path);
  const isArray = Array.isArray(target.node);
  const keys = isArray ? [] : Object.keys(target.node);
  const len = isArray ? (target.node as JsonValue[]).length : 0;
  switch (e.kind) {
    case 'set':
      if (isArray) {
        if (len > 0) node[e.pick % len] = structuredClone(e.value);
      } else node[keys.length > 0 && e.pick % 2 ? keys[e.pick % keys.length]! : `k${e.pick % 7}`] = structuredClone(e.value);
      return;
    case 'delete':
      if (isArray) {
        if (len > 0) node.splice(e.pick % len, 1);
      } else if (keys.length > 0) delete node[keys[e.pick % keys.length]!];
      return;
    case 'push':
      if (isArray) node.push(structuredClone(e.value));
      else node[`p${e.pick % 5}`] = [structuredClone(e.value)];
      return;
    case 'unshift':
      if (isArray) node.unshift(structuredClone(e.value), structuredClone(e.value));
      return;
    case 'shift':
      if (isArray) node.shift();
      return;
    case 'reverse':
      if (isArray) node.reverse();
      return;
    case 'splice':
      if (isArray) node.splice(e.pick % (len + 1), e.to % 3, structuredClone(e.value));
      return;
    case 'move': {
      // Move a subtree (by reference: large subtrees stay shared) into another container outside it.
      if (target.path.length === 0) return;
      const parentPath = target.path.slice(0, -1);
      const last = target.path[target.path.length - 1]!;
      const moved = node;
      const outside = all.filter((c) => !startsWith(c.path, target.path));
      const dest = outside[e.to % outside.length]!;
      const parent = at(root, parentPath);
      if (Array.isArray(parent)) parent.splice(last as number, 1);
      else delete parent[last];
      const destNode = at(root, dest.path.length > parentPath.length && Array.isArray(parent) && startsWith(dest.path, parentPath) ? shiftPath(dest.path, parentPath, last as number) : dest.path);
      if (Array.isArray(destNode)) destNode.splice(e.pick % (destNode.length + 1), 0, moved);
      else destNode[`m${e.pick % 5}`] = moved;
      return;
    }
  }
}

function startsWith(path: readonly (string | number)[], prefix: readonly (string | number)[]): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => path[i] === s);
}

/** A path recorded before an array item was removed, fixed for the shift of the later siblings. */
function shiftPath(path: (string | number)[], parentPath: (string | number)[], removed: number): (string | number)[] {
  const i = path[parentPath.length] as number;
  return i > removed ? [...parentPath, i - 1, ...path.slice(parentPath.length + 1)] : path;
}
