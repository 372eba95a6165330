import { canonicalJson, isJsonObject, parseJson, type JsonObject, type JsonValue } from '../domain/json.js';
import { AgentStateError } from '../errors.js';
import { DecodeError } from './errors.js';

/** The seed's sections, each carried as canonical JSON in `schemas/AgentState.avsc`. */
export const STATE_SECTIONS = ['configuration', 'capabilities', 'resourceAllocation', 'executionState', 'performance', 'memory'] as const;

/** Where the body of a large state lives instead (claim check, DESIGN.md State topic). */
export interface ClaimCheck {
  uri: string;
  checksum: string;
  sizeBytes: number;
  compression: string;
  keyId: string | null;
}

/** An `AgentState` record as avsc reads and writes it. */
export interface WireAgentState {
  instanceId: string;
  version: number;
  writerEpoch: number;
  stateChecksum: string;
  updatedAt: number;
  status: string | null;
  agentType: string | null;
  createdAt: number | null;
  configuration: string | null;
  capabilities: string | null;
  resourceAllocation: string | null;
  executionState: string | null;
  performance: string | null;
  memory: string | null;
  extensions: string | null;
  claimCheck: ClaimCheck | null;
}

/** Head fields of a state record. */
export interface StateHead {
  instanceId: string;
  version: number;
  writerEpoch: number;
  stateChecksum: string;
  updatedAt: number;
}

/**
 * Whether avsc's `long` carries `v` exactly. Its default long type works on
 * JavaScript numbers and accepts only integers in [-2^52, 2^52] (beyond, it
 * refuses to write, or zigzag-decodes another number); such a value, like any
 * non-integer, -0 or non-number, stays in the extensions as JSON instead.
 */
function exactAvroLong(v: unknown): v is number {
  return Number.isInteger(v) && Math.abs(v as number) <= 2 ** 52 && !Object.is(v, -0);
}

/**
 * State → `AgentState` record, losslessly: decoding gives back a state with
 * the same canonical JSON, so its checksum re-verifies (DESIGN.md Invariant 6).
 * With `claimCheck`, the sections are left out and the blob holds the state.
 */
export function stateToWire(state: JsonObject, head: StateHead, claimCheck: ClaimCheck | null = null): WireAgentState {
  const rest: JsonObject = {};
  for (const key of Object.keys(state)) {
    // defineProperty: a `__proto__` key is data, never the prototype.
    if (!(STATE_SECTIONS as readonly string[]).includes(key)) define(rest, key, state[key] as JsonValue);
  }
  const typedString = (key: 'status' | 'agentType'): string | null => {
    const v = rest[key];
    if (typeof v !== 'string') return null;
    delete rest[key];
    return v;
  };
  const status = typedString('status');
  const agentType = typedString('agentType');
  let createdAt: number | null = null;
  if (exactAvroLong(rest.createdAt)) {
    createdAt = rest.createdAt as number;
    delete rest.createdAt;
  }
  const section = (key: (typeof STATE_SECTIONS)[number]): string | null => (claimCheck !== null || state[key] === undefined ? null : canonicalJson(state[key]));
  return {
    ...head,
    status: claimCheck ? null : status,
    agentType: claimCheck ? null : agentType,
    createdAt: claimCheck ? null : createdAt,
    configuration: section('configuration'),
    capabilities: section('capabilities'),
    resourceAllocation: section('resourceAllocation'),
    executionState: section('executionState'),
    performance: section('performance'),
    memory: section('memory'),
    extensions: claimCheck || Object.keys(rest).length === 0 ? null : canonicalJson(rest),
    claimCheck,
  };
}

/**
 * `AgentState` record → state. A claim-checked record has no inline state:
 * fetch the blob named by `claimCheck` instead (returns undefined here).
 * @throws DecodeError when a section is not valid JSON
 */
export function stateFromWire(wire: WireAgentState): JsonObject | undefined {
  if (wire.claimCheck !== null) return undefined;
  try {
    const extensions = wire.extensions === null ? {} : parseJson(wire.extensions, 'AgentState.extensions');
    if (!isJsonObject(extensions)) throw new DecodeError('AgentState.extensions', 'not a JSON object');
    const state: JsonObject = {};
    for (const [k, v] of Object.entries(extensions)) define(state, k, v);
    if (wire.status !== null) state.status = wire.status;
    if (wire.agentType !== null) state.agentType = wire.agentType;
    if (wire.createdAt !== null) state.createdAt = wire.createdAt;
    for (const key of STATE_SECTIONS) {
      const text = wire[key];
      if (text !== null) state[key] = parseJson(text, `AgentState.${key}`);
    }
    return state;
  } catch (error) {
    if (error instanceof DecodeError || !(error instanceof AgentStateError)) throw error;
    throw new DecodeError(`state of ${wire.instanceId}`, error.message, { cause: error });
  }
}

function define(obj: JsonObject, key: string, value: JsonValue): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}
