import { isJsonObject, type JsonObject, type JsonValue } from '../domain/index.js';

/**
 * How an agent's state is split between queryable fields and the opaque body
 * (docs/store.md). The seed's `AgentStateDocument` sections become real
 * fields of the stored document so users can query them; only the open-ended
 * `memory`, the full task history and whatever else the state holds stay in
 * the body (the "residual"). `joinState(fields, residual)` gives back exactly
 * the state (its checksum is verified by every reader, DESIGN.md Invariant 6).
 *
 * A section is lifted out of the body only when every store can hold it byte
 * for byte: no string with a NUL or a lone surrogate (BSON would turn a lone
 * surrogate into U+FFFD, PostgreSQL's jsonb refuses NUL), nesting within
 * {@link StateFieldsOptions.maxDepth}, and at most `maxSectionBytes` of JSON.
 * Otherwise the section stays in the body (the only copy we trust) and the
 * fields carry a sanitised copy for queries, or nothing when even that would
 * break a document limit. Object keys are not checked here: adapters escape
 * keys reversibly (src/store/mongo/keys.ts).
 */

/** The queryable sections; each present only when the state has it. */
export interface StateFields {
  status?: JsonValue;
  agentType?: JsonValue;
  configuration?: JsonValue;
  capabilities?: JsonValue;
  resourceAllocation?: JsonValue;
  performance?: JsonValue;
  /** The lifted sub-sections, plus the most recent `historyLimit` items of `taskHistory` (a copy: the full list is in the body). */
  executionState?: {
    currentTask?: JsonValue;
    taskHistory?: JsonValue;
    memoryUsage?: JsonValue;
    processState?: JsonValue;
    communicationState?: JsonValue;
  };
}

export interface StateFieldsOptions {
  /** How many of the newest `executionState.taskHistory` items the fields carry. @default 20 */
  historyLimit: number;
  /** A section whose canonical JSON is larger stays in the body only (BSON's 16 MB document limit). @default 262144 */
  maxSectionBytes: number;
  /** Deepest nesting inside a section that is lifted (MongoDB allows 100 levels per document). @default 64 */
  maxDepth: number;
}

export const DEFAULT_STATE_FIELDS_OPTIONS: StateFieldsOptions = { historyLimit: 20, maxSectionBytes: 256 * 1024, maxDepth: 64 };

/** Top-level sections lifted into fields (`instanceId` and `createdAt` stay in the body: the row has its own). */
export const TOP_SECTIONS = ['status', 'agentType', 'configuration', 'capabilities', 'resourceAllocation', 'performance'] as const;
/** `executionState` sub-sections lifted into fields (`taskHistory` is only copied). */
export const EXECUTION_SECTIONS = ['currentTask', 'memoryUsage', 'processState', 'communicationState'] as const;

/** The split of one state. */
export interface SplitState {
  fields: StateFields;
  /** What the body must hold: the state minus the lifted sections (the state itself when it is not an object). */
  residual: JsonValue;
}

/**
 * Splits a state into fields and residual. Pure; never mutates `state`.
 * A state that is not an object (never produced by the reducer) is all residual.
 */
export function splitState(state: JsonValue, options: StateFieldsOptions = DEFAULT_STATE_FIELDS_OPTIONS): SplitState {
  if (!isJsonObject(state)) return { fields: {}, residual: state };
  const fields: StateFields = {};
  const residual: JsonObject = {};
  for (const key of Object.keys(state)) setOwn(residual, key, state[key]!);
  for (const key of TOP_SECTIONS) {
    if (!Object.hasOwn(state, key)) continue;
    const { lifted, copy } = place(state[key]!, options);
    if (copy !== undefined) fields[key] = copy;
    if (lifted) delete residual[key];
  }
  const exec = state.executionState;
  if (isJsonObject(exec)) {
    const restExec: JsonObject = {};
    for (const key of Object.keys(exec)) setOwn(restExec, key, exec[key]!);
    const liftedExec: NonNullable<StateFields['executionState']> = {};
    for (const key of EXECUTION_SECTIONS) {
      if (!Object.hasOwn(exec, key)) continue;
      const { lifted, copy } = place(exec[key]!, options);
      if (copy !== undefined) liftedExec[key] = copy;
      if (lifted) delete restExec[key];
    }
    const history = exec.taskHistory;
    if (Array.isArray(history)) {
      const recent = history.slice(Math.max(0, history.length - options.historyLimit));
      const { copy } = place(recent, options);
      if (copy !== undefined) liftedExec.taskHistory = copy;
    }
    fields.executionState = liftedExec;
    // The residual keeps `executionState` (even `{}`): it marks that the state has one.
    residual.executionState = restExec;
  }
  return { fields, residual };
}

/**
 * The state back from its fields and residual: each lifted section is taken
 * from the fields unless the residual holds it (a section kept in the body
 * wins over its sanitised copy). The truncated `taskHistory` copy is never used.
 */
export function joinState(fields: StateFields, residual: JsonValue): JsonValue {
  if (!isJsonObject(residual)) return residual;
  const keys = Object.keys(residual);
  const state: JsonObject = {};
  for (const key of keys) setOwn(state, key, residual[key]!);
  for (const key of TOP_SECTIONS) {
    const value = fields[key];
    if (value !== undefined && !Object.hasOwn(residual, key)) setOwn(state, key, value);
  }
  const exec = residual.executionState;
  if (isJsonObject(exec)) {
    const merged: JsonObject = {};
    for (const key of Object.keys(exec)) setOwn(merged, key, exec[key]!);
    for (const key of EXECUTION_SECTIONS) {
      const value = fields.executionState?.[key];
      if (value !== undefined && !Object.hasOwn(exec, key)) setOwn(merged, key, value);
    }
    state.executionState = merged;
  }
  return state;
}

/**
 * The state a stored row holds, from its decoded body: the body itself when
 * it came from the blob store (a claim-checked body is the whole state),
 * else the residual joined with the row's fields. Callers verify the checksum.
 */
export function stateOfRow(row: { fields: StateFields; blobKey: string | null }, decodedBody: JsonValue): JsonValue {
  return row.blobKey !== null ? decodedBody : joinState(row.fields, decodedBody);
}

/** `obj[key] = value`, also for the key `__proto__` (which assignment would turn into a prototype change). */
export function setOwn(obj: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/**
 * Whether a section can be lifted, and the copy the fields carry: the value
 * itself when lossless, a sanitised copy when only its strings are the
 * problem, nothing when it is too deep or too large for a document.
 */
function place(value: JsonValue, o: StateFieldsOptions): { lifted: boolean; copy: JsonValue | undefined } {
  const scan = { bytes: 0, lossy: false, tooDeep: false };
  measure(value, 0, o, scan);
  if (scan.tooDeep || scan.bytes > o.maxSectionBytes) return { lifted: false, copy: undefined };
  if (!scan.lossy) return { lifted: true, copy: value };
  return { lifted: false, copy: sanitise(value) };
}

/** Walks a value once: approximate JSON size, strings a store would alter, nesting. Stops early past the limits. */
function measure(value: JsonValue, depth: number, o: StateFieldsOptions, scan: { bytes: number; lossy: boolean; tooDeep: boolean }): void {
  if (scan.tooDeep || scan.bytes > o.maxSectionBytes) return;
  if (typeof value === 'string') {
    scan.bytes += value.length + 2;
    if (!storableString(value)) scan.lossy = true;
    return;
  }
  if (value === null || typeof value !== 'object') {
    scan.bytes += 8;
    return;
  }
  if (depth >= o.maxDepth) {
    scan.tooDeep = true;
    return;
  }
  if (Array.isArray(value)) {
    scan.bytes += 2 + value.length;
    for (const item of value) measure(item, depth + 1, o, scan);
    return;
  }
  for (const key of Object.keys(value)) {
    scan.bytes += key.length + 4;
    measure(value[key]!, depth + 1, o, scan);
  }
}

/** A string every store keeps exactly: well-formed UTF-16 and no NUL. */
export function storableString(s: string): boolean {
  return (s as unknown as WellFormed).isWellFormed() && !s.includes('\u0000');
}

/** ES2024 string methods (Node 20 has them; the compiler's lib is ES2023). */
interface WellFormed {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

/** A copy with every string made storable (lone surrogates and NUL become U+FFFD); for queries only. */
export function sanitise(value: JsonValue): JsonValue {
  if (typeof value === 'string') return storableString(value) ? value : (value as unknown as WellFormed).toWellFormed().replaceAll('\u0000', '\uFFFD');
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(sanitise);
  const out: JsonObject = {};
  for (const key of Object.keys(value)) setOwn(out, key, sanitise(value[key]!));
  return out;
}
