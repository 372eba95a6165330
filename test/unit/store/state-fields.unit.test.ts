import { describe, expect, it } from 'vitest';
import { canonicalJson, checksum, initialState, instanceId, stateAsJson, type JsonObject, type JsonValue } from '../../../src/domain/index.js';
import { escapeKey, escapeKeys, unescapeKey, unescapeKeys } from '../../../src/store/mongo/keys.js';
import { joinState, splitState, stateOfRow } from '../../../src/store/state-fields.js';

/** What a store round trip does to the JSON: the fields as JSON text (SQLite), or escaped and back (MongoDB). */
const viaJson = (v: unknown): JsonValue => JSON.parse(JSON.stringify(v)) as JsonValue;

function agent(): JsonObject {
  const s = stateAsJson(initialState(instanceId('a-1'), 'worker', 1_700_000_000_000, { status: 'running' }));
  const exec = s.executionState as JsonObject;
  exec.taskHistory = Array.from({ length: 30 }, (_, i) => ({ taskId: `T-${i}`, status: 'completed' }));
  exec.currentTask = { taskId: 'T-9', type: 'search', input: { q: 'x' } };
  s.memory = { notes: 'n'.repeat(100), conversation: [{ role: 'user', text: 'hi' }] };
  s.performance = { errorRate: 0.2 };
  s.capabilities = ['web-search'];
  return s;
}

describe('splitState / joinState', () => {
  it('lifts the seed sections, keeps memory and the full task history in the residual, and joins back exactly', () => {
    const state = agent();
    const { fields, residual } = splitState(state, { historyLimit: 20, maxSectionBytes: 256 * 1024, maxDepth: 64 });
    expect(fields.status).toBe('running');
    expect(fields.capabilities).toEqual(['web-search']);
    expect(fields.executionState?.currentTask).toEqual({ taskId: 'T-9', type: 'search', input: { q: 'x' } });
    expect((fields.executionState?.taskHistory as JsonValue[]).map((t) => (t as JsonObject).taskId)).toEqual(Array.from({ length: 20 }, (_, i) => `T-${i + 10}`));
    const r = residual as JsonObject;
    expect(Object.keys(r).sort()).toEqual(['createdAt', 'executionState', 'instanceId', 'memory']);
    expect(Object.keys(r.executionState as JsonObject)).toEqual(['taskHistory']);
    expect((r.executionState as JsonObject).taskHistory).toHaveLength(30);
    const back = joinState(viaJson(fields) as never, viaJson(residual));
    expect(canonicalJson(back)).toBe(canonicalJson(state));
    expect(checksum(back)).toBe(checksum(state));
  });

  it('keeps in the body any section a store could alter (lone surrogate, NUL, too deep, too large), with a sanitised copy or none', () => {
    const state = agent();
    state.configuration = { name: 'bad \ud800 surrogate' };
    state.performance = { note: 'nul \u0000 here', errorRate: 0.5 };
    let deep: JsonValue = 1;
    for (let i = 0; i < 70; i++) deep = { d: deep };
    (state.executionState as JsonObject).processState = deep;
    (state.executionState as JsonObject).communicationState = { blob: 'x'.repeat(300_000) };
    const { fields, residual } = splitState(state);
    const r = residual as JsonObject;
    expect(r.configuration).toEqual(state.configuration);
    expect(fields.configuration).toEqual({ name: 'bad \uFFFD surrogate' });
    expect(r.performance).toEqual(state.performance);
    expect((fields.performance as JsonObject).errorRate).toBe(0.5);
    expect(fields.executionState?.processState).toBeUndefined();
    expect(fields.executionState?.communicationState).toBeUndefined();
    expect(Object.keys(r.executionState as JsonObject).sort()).toEqual(['communicationState', 'processState', 'taskHistory']);
    expect(checksum(joinState(fields, residual))).toBe(checksum(state));
  });

  it('joins states missing sections, with odd executionState, and non-object states', () => {
    for (const state of [{}, { executionState: 'odd', status: 3 }, { executionState: {} }, [1, 2], 'x', { status: null }] as JsonValue[]) {
      const { fields, residual } = splitState(state);
      expect(canonicalJson(joinState(viaJson(fields) as never, viaJson(residual)))).toBe(canonicalJson(state));
    }
  });

  it('stateOfRow takes a claim-checked body as the whole state', () => {
    const state = agent();
    expect(stateOfRow({ fields: {}, blobKey: 'states/x' }, state)).toBe(state);
    const { fields, residual } = splitState(state);
    expect(checksum(stateOfRow({ fields, blobKey: null }, residual))).toBe(checksum(state));
  });
});

describe('MongoDB key escaping', () => {
  it('escapes $, dots, %, NUL, lone surrogates, "" and __proto__ reversibly and leaves plain keys alone', () => {
    const keys = ['plain', 'errorRate', '$set', 'a.b', '%', '%25', '%2E', '', '__proto__', 'k\u0000z', '\ud800', 'x\udc00', '😀', '%arr', 'a$b.c%'];
    for (const k of keys) {
      const e = escapeKey(k);
      expect(e).not.toMatch(/^\$|\.|\u0000/);
      expect(unescapeKey(e)).toBe(k);
    }
    expect(escapeKey('errorRate')).toBe('errorRate');
    expect(new Set(keys.map(escapeKey)).size).toBe(keys.length);
  });

  it('wraps arrays inside arrays (FerretDB v1 refuses them) and unwraps them on read', () => {
    const value = JSON.parse('{"m":[[1,[2]],{"%arr":[3]},[],{"__proto__":{"$x":[[null]]}}]}') as JsonValue;
    const stored = escapeKeys(value);
    expect(JSON.stringify(stored)).not.toMatch(/\[\[/);
    const back = unescapeKeys(viaJson(stored));
    expect(canonicalJson(back)).toBe(canonicalJson(value));
  });
});
