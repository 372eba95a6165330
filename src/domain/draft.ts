import { diff, type Change } from './changeset.js';
import { InvalidInputError } from './errors.js';
import { MAX_JSON_DEPTH, type JsonValue } from './json.js';

/**
 * Draft functions (`updateState(id, (draft) => ...)`) edit a copy-on-write
 * view of the state: a Proxy per container reached, a shallow copy only of
 * the containers written to (and their ancestors). The result shares every
 * untouched subtree with the base by identity, so:
 * - no whole-state copy is made per update (issue 10, "no whole-state copies");
 * - the changeset is the diff of the touched containers only (the diff skips
 *   shared subtrees), with arrays diffed item by item (prefix/suffix + Myers),
 *   so `push` + `shift` on a chat window is one `create` and one `delete`;
 * - the checksum rehashes only the new containers (checksum.ts).
 * Immer was measured for this and not used: its patches on this workload are
 * ~20x the change (every shifted index a `replace`), Immer 11's
 * `enableArrayMethods()` included; see docs/domain.md.
 *
 * Values the function assigns from outside are copied (and checked as JSON,
 * `toJSON` applied) when the draft is finalised, so a caller keeping a
 * reference to an object it stored cannot change the state afterwards. The
 * base is never mutated. Proxies are revoked once the function returns.
 */
interface Draft {
  base: object;
  /** Shallow copy of `base`, made on the first write; holds base values, drafts and foreign values. */
  copy: unknown[] | Record<string, unknown> | undefined;
  isArray: boolean;
  parent: Draft | undefined;
  /** Drafts of children read before this node was copied (moved into `copy` on the first write). */
  children: Map<string, Draft> | undefined;
  /** Arrays: drafts and foreign values placed into `copy`; the only items finalise must replace. */
  specials: unknown[];
  /** Arrays: an item may be missing or undefined (length set, index deleted or written past the end): finalise checks every item. */
  holes: boolean;
  proxy: object;
  revoke: () => void;
  ctx: Context;
  done?: JsonValue;
}

interface Context {
  drafts: Draft[];
  /** Containers stored into the draft from outside (not drafts, not base values): copied on finalise. */
  foreign: WeakSet<object>;
}

const drafts = new WeakMap<object, Draft>();
/** Each proxy's target to its draft: one handler serves every draft (no closures made per draft, per update). */
const targets = new WeakMap<object, Draft>();

/**
 * Runs `recipe` on a draft of `base` and returns the new state (sharing
 * untouched subtrees with `base`) and the changes from `base` to it.
 * @throws InvalidInputError when the recipe is asynchronous, stores a value
 *   JSON cannot hold (NaN, a function, an `undefined` array item, a Map...),
 *   or the base is not an object or array
 */
export function produceWithChanges<T extends JsonValue>(base: T, recipe: (draft: T) => unknown): { next: T; changes: Change[] } {
  if (typeof base !== 'object' || base === null) throw new InvalidInputError('state', 'a draft needs an object or array state');
  const ctx: Context = { drafts: [], foreign: new WeakSet() };
  const root = createDraft(base, undefined, ctx);
  let next: JsonValue;
  try {
    const returned = recipe(root.proxy as T);
    if (returned instanceof Promise || (typeof returned === 'object' && returned !== null && typeof (returned as { then?: unknown }).then === 'function')) {
      // Edits after an await would land on a revoked draft, or nowhere.
      throw new InvalidInputError('update', 'a draft function must be synchronous (it returned a promise)');
    }
    next = finalize(root, '');
  } finally {
    for (const d of ctx.drafts) d.revoke();
  }
  return { next: next as T, changes: diff(base, next) };
}

function createDraft(base: object, parent: Draft | undefined, ctx: Context): Draft {
  const isArray = Array.isArray(base);
  const d = { base, copy: undefined, isArray, parent, children: undefined, specials: [], holes: false, ctx } as unknown as Draft;
  // A fresh target, so the proxy can report values the base does not have (Proxy invariants).
  const target = isArray ? [] : {};
  targets.set(target, d);
  const { proxy, revoke } = Proxy.revocable(target, HANDLER);
  d.proxy = proxy;
  d.revoke = revoke;
  drafts.set(proxy, d);
  ctx.drafts.push(d);
  return d;
}

function source(d: Draft): Record<string, unknown> {
  return (d.copy ?? d.base) as Record<string, unknown>;
}

/** The value a read returns: a draft for a base container, anything else as stored. */
function read(d: Draft, key: string): unknown {
  const value = source(d)[key];
  if (typeof value !== 'object' || value === null || drafts.has(value) || d.ctx.foreign.has(value)) return value;
  if (d.copy) {
    const child = createDraft(value, d, d.ctx);
    (d.copy as Record<string, unknown>)[key] = child.proxy;
    if (d.isArray) d.specials.push(child.proxy);
    return child.proxy;
  }
  let child = d.children?.get(key);
  if (!child) {
    child = createDraft(value, d, d.ctx);
    (d.children ??= new Map()).set(key, child);
  }
  return child.proxy;
}

function markModified(d: Draft): void {
  if (d.copy) return;
  if (d.isArray) d.copy = (d.base as unknown[]).slice();
  else {
    // Spread defines own data properties (a `__proto__` key stays data) and is far cheaper than a defineProperty per key.
    d.copy = { ...(d.base as Record<string, unknown>) };
  }
  if (d.children) {
    for (const [k, child] of d.children) {
      (d.copy as Record<string, unknown>)[k] = child.proxy;
      if (d.isArray) d.specials.push(child.proxy);
    }
  }
  d.children = undefined;
  if (d.parent) markModified(d.parent);
}

/**
 * A value entering the draft: containers from outside are remembered (copied
 * on finalise), scalars are checked and normalised now (so finalise need not
 * revisit every item of a long array).
 * @throws InvalidInputError for a scalar JSON cannot hold
 */
function admit(d: Draft, value: unknown, key: string): unknown {
  if (typeof value === 'object' && value !== null) {
    if (!drafts.has(value)) d.ctx.foreign.add(value);
    if (d.isArray) d.specials.push(value);
    return value;
  }
  if (value === undefined) {
    d.holes ||= d.isArray;
    return undefined;
  }
  return scalar(value, `/${key}`);
}

const MUTATORS = new Set(['push', 'pop', 'shift', 'unshift', 'splice', 'reverse', 'sort', 'fill', 'copyWithin']);

/**
 * Array methods that move items run natively on the copy: through the traps,
 * a `shift()` of a long array would draft every item it moves.
 */
function arrayMethod(d: Draft, name: string): (...args: unknown[]) => unknown {
  return (...args: unknown[]) => {
    markModified(d);
    const copy = d.copy as unknown[];
    if (name === 'push' || name === 'unshift') args = args.map((v) => admit(d, v, '-'));
    else if (name === 'splice') args = [...args.slice(0, 2), ...args.slice(2).map((v) => admit(d, v, '-'))];
    else if (name === 'fill') args = [admit(d, args[0], '-'), ...args.slice(1)];
    else if (name === 'sort') for (let i = 0; i < copy.length; i++) read(d, String(i)); // the comparator sees drafts, never base objects
    const result: unknown = (Array.prototype as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!.apply(copy, args);
    if (name === 'pop' || name === 'shift') return detached(d, result);
    if (name === 'splice') return (result as unknown[]).map((v) => detached(d, v));
    if (result === copy) return d.proxy;
    return result;
  };
}

/** An item taken out of the array: a base container comes back as a draft of its own (never the base object). */
function detached(d: Draft, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || drafts.has(value) || d.ctx.foreign.has(value)) return value;
  return createDraft(value, undefined, d.ctx).proxy;
}

const HANDLER: ProxyHandler<object> = {
  get(t, prop, receiver) {
    const d = targets.get(t)!;
    if (typeof prop === 'symbol') return Reflect.get(source(d), prop, receiver);
    if (Object.hasOwn(source(d), prop)) return read(d, prop);
    if (d.isArray && MUTATORS.has(prop)) return arrayMethod(d, prop);
    return Reflect.get(source(d), prop, receiver);
  },
  set(t, prop, value) {
    const d = targets.get(t)!;
    if (typeof prop === 'symbol') throw new InvalidInputError('update', 'a state key cannot be a symbol');
    const src = source(d);
    if (Object.hasOwn(src, prop)) {
      const current = d.copy ? src[prop] : (d.children?.get(prop)?.proxy ?? src[prop]);
      if (Object.is(current, value)) return true; // no-op writes do not copy anything
    }
    markModified(d);
    if (d.isArray && !(Number(prop) < (d.copy as unknown[]).length)) d.holes = true; // length, or past the end
    if (d.isArray && prop === 'length') (d.copy as unknown[]).length = value as number;
    else setKey(d.copy as Record<string, unknown>, prop, admit(d, value, prop));
    return true;
  },
  deleteProperty(t, prop) {
    const d = targets.get(t)!;
    if (typeof prop === 'symbol' || !Object.hasOwn(source(d), prop)) return true;
    markModified(d);
    d.holes ||= d.isArray;
    delete (d.copy as Record<string, unknown>)[prop];
    return true;
  },
  defineProperty(t, prop, desc) {
    const d = targets.get(t)!;
    if (typeof prop === 'symbol' || !('value' in desc)) throw new InvalidInputError('update', 'state keys hold plain data values');
    markModified(d);
    d.holes ||= d.isArray;
    if (d.isArray && prop === 'length') (d.copy as unknown[]).length = desc.value as number;
    else setKey(d.copy as Record<string, unknown>, prop, admit(d, desc.value, prop));
    return true;
  },
  has(t, prop) {
    const d = targets.get(t)!;
    return prop in source(d);
  },
  ownKeys(t) {
    const d = targets.get(t)!;
    return Reflect.ownKeys(source(d));
  },
  getOwnPropertyDescriptor(t, prop) {
    const d = targets.get(t)!;
    const desc = Reflect.getOwnPropertyDescriptor(source(d), prop);
    if (!desc) return undefined;
    const lengthOfArray = d.isArray && prop === 'length';
    return { value: typeof prop === 'string' && !lengthOfArray ? read(d, prop) : desc.value, writable: true, enumerable: desc.enumerable ?? true, configurable: !lengthOfArray };
  },
  getPrototypeOf(t) {
    const d = targets.get(t)!;
    return Object.getPrototypeOf(d.base) as object | null;
  },
  setPrototypeOf() {
    throw new InvalidInputError('update', 'the prototype of a state object cannot change');
  },
  preventExtensions() {
    throw new InvalidInputError('update', 'a draft cannot be frozen or sealed');
  },
};

/** `__proto__` must become an own data property, never the prototype. */
function setKey(obj: Record<string, unknown>, key: string, value: unknown): void {
  // Only `__proto__` has a setter on Object.prototype; every other key assigns as a data property.
  if (key === '__proto__') Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}

/** Above this many drafts/foreign values placed in an array, finalise walks every item instead of searching for each. */
const FEW_SPECIALS = 16;

/** The value a draft stands for: its base when untouched, else a new container over finalised children. */
function finalize(d: Draft, at: string): JsonValue {
  if (d.done !== undefined) return d.done;
  if (!d.copy) return (d.done = d.base as JsonValue);
  if (d.isArray && !d.holes && d.specials.length <= FEW_SPECIALS) {
    // Items are base values (valid, shared) except the few drafts and foreign values placed in: replace only those.
    const copy = d.copy as unknown[];
    const out = copy.slice() as JsonValue[];
    for (const v of new Set(d.specials)) {
      for (let i = copy.indexOf(v); i !== -1; i = copy.indexOf(v, i + 1)) out[i] = finalizeValue(d.ctx, v, 1, `${at}/${i}`) as JsonValue;
    }
    return (d.done = out);
  }
  if (d.isArray) {
    const copy = d.copy as unknown[];
    const out: JsonValue[] = new Array(copy.length);
    for (let i = 0; i < copy.length; i++) {
      const v = finalizeValue(d.ctx, copy[i], 1, `${at}/${i}`);
      if (v === undefined) throw new InvalidInputError('JSON value', `undefined array item at ${at}/${i}`);
      out[i] = v;
    }
    return (d.done = out);
  }
  const copy = d.copy as Record<string, unknown>;
  const out: Record<string, JsonValue> = {};
  for (const key of Object.keys(copy)) {
    const v = finalizeValue(d.ctx, copy[key], 1, `${at}/${key}`);
    if (v !== undefined) setKey(out, key, v);
  }
  return (d.done = out);
}

/**
 * A child of a finalised container: drafts finalise, base values stay shared,
 * values from outside are copied as JSON (`undefined` = omit the key).
 */
function finalizeValue(ctx: Context, value: unknown, depth: number, at: string): JsonValue | undefined {
  if (typeof value === 'object' && value !== null) {
    const d = drafts.get(value);
    if (d) return finalize(d, at);
    if (!ctx.foreign.has(value)) return value as JsonValue; // a base value, never handed out: shared
    return plainCopy(value, depth, at);
  }
  return scalar(value, at);
}

function scalar(value: unknown, at: string): JsonValue | undefined {
  switch (typeof value) {
    case 'undefined':
      return undefined;
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new InvalidInputError('JSON value', `${value} at ${at || '/'} is not finite`);
      return Object.is(value, -0) ? 0 : value; // JSON has no -0
    case 'object':
      return null;
    default:
      throw new InvalidInputError('JSON value', `${typeof value} at ${at || '/'} is not JSON`);
  }
}

/** A fresh JSON copy of a value stored from outside (drafts inside it finalise; `toJSON` applies, as JSON.stringify). */
function plainCopy(value: object, depth: number, at: string): JsonValue {
  const d = drafts.get(value);
  if (d) return finalize(d, at);
  if (depth >= MAX_JSON_DEPTH) throw new InvalidInputError('JSON value', `nesting deeper than ${MAX_JSON_DEPTH} at ${at}`);
  const child = (v: unknown, key: string): JsonValue | undefined => (typeof v === 'object' && v !== null ? plainCopy(v, depth + 1, `${at}/${key}`) : scalar(v, `${at}/${key}`));
  if (Array.isArray(value)) {
    const out: JsonValue[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const v = child(value[i], String(i));
      if (v === undefined) throw new InvalidInputError('JSON value', `undefined array item at ${at}/${i}`);
      out[i] = v;
    }
    return out;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      const v: unknown = toJSON.call(value, at.split('/').at(-1) ?? '');
      return typeof v === 'object' && v !== null ? plainCopy(v, depth, at) : (scalar(v, at) ?? null);
    }
    const name = (value as object).constructor?.name ?? 'object';
    throw new InvalidInputError('JSON value', `${name} at ${at || '/'} is not a plain JSON object`);
  }
  const out: Record<string, JsonValue> = {};
  for (const key of Object.keys(value)) {
    const v = child((value as Record<string, unknown>)[key], key);
    if (v !== undefined) setKey(out, key, v);
  }
  return out;
}
