import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyChanges, diff, invertChanges, type Change } from '../../../src/domain/changeset.js';
import { produceWithChanges } from '../../../src/domain/draft.js';
import { InvalidInputError } from '../../../src/domain/errors.js';
import { canonicalJson, jsonEqual, type JsonValue } from '../../../src/domain/json.js';
import { json, jsonObject } from './arbitraries.js';
import { applyEdit, bigState, deepFreeze, editSeed } from './edits.js';

const msg = (i: number) => ({ id: `msg_${i}`, role: i % 2 ? 'assistant' : 'user', content: 'lorem ipsum dolor sit amet '.repeat(36).slice(0, 950), at: 1760000000000 + i });
const chat = () => deepFreeze({ status: 'running', memory: { conversation: Array.from({ length: 20 }, (_, i) => msg(i)), facts: { x: 1 } }, performance: { series: [1, 2, 3] } });

describe('produceWithChanges: a draft yields what it changed', () => {
  it('chat window, push + shift: one delete at /0 and one create, within 1.5x the change list a caller would write', () => {
    const base = chat();
    const turn = msg(20);
    const { next, changes } = produceWithChanges(base, (d: any) => {
      d.memory.conversation.push(turn);
      d.memory.conversation.shift();
    });
    expect(changes).toEqual([
      { path: '/memory/conversation/0', op: 'delete', oldValue: base.memory.conversation[0] },
      { path: '/memory/conversation/19', op: 'create', newValue: turn },
    ]);
    const handWritten = [
      { path: '/memory/conversation/-', op: 'create', newValue: turn },
      { path: '/memory/conversation/0', op: 'delete', oldValue: base.memory.conversation[0] },
    ];
    expect(JSON.stringify(changes).length).toBeLessThanOrEqual(1.5 * JSON.stringify(handWritten).length);
    expect(jsonEqual(applyChanges(base, changes), next)).toBe(true);
  });

  it('chat window, slice + assign (the bench/append.ts style): the same two changes', () => {
    const base = chat();
    const turn = msg(20);
    const { changes } = produceWithChanges(base, (d: any) => {
      const c = d.memory.conversation.slice(-19);
      c.push(turn);
      d.memory.conversation = c;
    });
    expect(changes.map((c) => `${c.op} ${c.path}`)).toEqual(['delete /memory/conversation/0', 'create /memory/conversation/19']);
  });

  it('shares every untouched subtree and never touches the base', () => {
    const base = chat();
    const before = canonicalJson(base);
    const { next } = produceWithChanges(base, (d: any) => {
      d.memory.facts.y = 2;
    });
    expect(canonicalJson(base)).toBe(before);
    expect(next.performance).toBe(base.performance);
    expect(next.memory.conversation).toBe(base.memory.conversation);
    expect(next.memory.facts).not.toBe(base.memory.facts);
    expect(produceWithChanges(base, () => {}).next).toBe(base);
    expect(produceWithChanges(base, (d: any) => void (d.status = 'running')).changes).toEqual([]);
  });

  it('equals running the same JavaScript on a plain copy, and its changes replay with applyChanges (random edits)', () => {
    fc.assert(
      fc.property(jsonObject, fc.array(editSeed(json), { minLength: 1, maxLength: 10 }), fc.nat(40), (extra, edits, n) => {
        let state: JsonValue = deepFreeze({ ...bigState(n), extra });
        for (const e of edits) {
          const plain = structuredClone(state);
          applyEdit(plain, state, e);
          const shape: JsonValue = state;
          const { next, changes }: { next: JsonValue; changes: Change[] } = produceWithChanges<JsonValue>(state, (d): void => applyEdit(d, shape, e));
          expect(canonicalJson(next)).toBe(canonicalJson(plain));
          expect(canonicalJson(applyChanges(state, changes))).toBe(canonicalJson(next));
          expect(canonicalJson(applyChanges(next, invertChanges(changes)))).toBe(canonicalJson(state));
          state = deepFreeze(next);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('copies values stored from outside, so later edits of the caller’s objects do not reach the state', () => {
    const mine = { tags: ['a'] };
    const { next } = produceWithChanges(deepFreeze({ memory: {} }) as JsonValue, (d: any) => {
      d.memory.mine = mine;
    });
    mine.tags.push('b');
    expect(next).toEqual({ memory: { mine: { tags: ['a'] } } });
  });

  it('stores values as JSON: toJSON applied, undefined properties dropped, non-JSON refused', () => {
    const at = new Date(0);
    const { next } = produceWithChanges({ a: 1 } as JsonValue, (d: any) => {
      d.when = at;
      d.gone = undefined;
      d.zero = -0;
    });
    expect(next).toEqual({ a: 1, when: '1970-01-01T00:00:00.000Z', zero: 0 });
    expect(Object.is((next as any).zero, 0)).toBe(true);
    for (const bad of [NaN, new Map(), () => 1, [undefined], 10n]) {
      expect(() => produceWithChanges({} as JsonValue, (d: any) => void (d.x = bad))).toThrow(InvalidInputError);
    }
  });

  it('refuses holes and non-JSON items in arrays, whichever way they get in', () => {
    const base = deepFreeze({ arr: [{ a: 1 }, 2] }) as JsonValue;
    const attempts: Array<(d: any) => void> = [
      (d) => void (d.arr.length = 5),
      (d) => void (d.arr[3] = 1),
      (d) => void delete d.arr[0],
      (d) => void d.arr.push(undefined),
      (d) => void d.arr.push(NaN),
      (d) => void d.arr.splice(1, 0, Infinity),
      (d) => void d.arr.fill(undefined),
    ];
    for (const edit of attempts) expect(() => produceWithChanges(base, edit), String(edit)).toThrow(InvalidInputError);
    // Writing at the end and shrinking the length are fine.
    expect(produceWithChanges(base, (d: any) => void (d.arr[d.arr.length] = 3)).next).toEqual({ arr: [{ a: 1 }, 2, 3] });
    expect(produceWithChanges(base, (d: any) => void (d.arr.length = 1)).next).toEqual({ arr: [{ a: 1 }] });
  });

  it('finalises arrays with many drafts and foreign items placed in (the item-by-item path) like those with few', () => {
    const base = deepFreeze({ arr: Array.from({ length: 40 }, (_, i) => ({ i })) }) as any;
    const { next } = produceWithChanges(base, (d: any) => {
      for (let i = 0; i < 30; i++) d.arr.push({ j: i, ref: d.arr[i] });
      d.arr[1].i = -1;
    });
    expect(next.arr.length).toBe(70);
    expect(next.arr[45]).toEqual({ j: 5, ref: { i: 5 } });
    expect(next.arr[45].ref).toBe(base.arr[5]);
    expect(next.arr[41].ref).toEqual({ i: -1 });
    expect(next.arr[41].ref).toBe(next.arr[1]);
  });

  it('refuses an async draft function, and revokes the draft afterwards', async () => {
    expect(() => produceWithChanges({} as JsonValue, async (d: any) => void (d.x = 1))).toThrow(/synchronous/);
    let kept: any;
    produceWithChanges({ a: { b: 1 } } as JsonValue, (d: any) => {
      kept = d.a;
    });
    expect(() => (kept.b = 2)).toThrow(TypeError);
  });

  it('hands out drafts, never base objects: removed items, sort comparators, spreads', () => {
    const base = deepFreeze({ list: [{ n: 2 }, { n: 1 }, { n: 3 }], other: { k: 1 } }) as any;
    const { next, changes } = produceWithChanges(base, (d: any) => {
      const first = d.list.shift();
      first.n = 20; // a draft of its own: changes nothing unless put back
      d.list.sort((x: any, y: any) => x.n - y.n);
      d.list.push(first);
      d.copy = { ...d.other, extra: [...d.list] };
    });
    expect(next.list).toEqual([{ n: 1 }, { n: 3 }, { n: 20 }]);
    expect(next.copy).toEqual({ k: 1, extra: [{ n: 1 }, { n: 3 }, { n: 20 }] });
    expect(next.list[0]).toBe(base.list[1]);
    expect(base.list[0]).toEqual({ n: 2 });
    expect(canonicalJson(applyChanges(base, changes))).toBe(canonicalJson(next));
  });

  it('supports the usual reads on drafts: keys, entries, JSON.stringify, in, Array.isArray, iteration', () => {
    produceWithChanges({ a: [1, { b: 2 }], c: 'x' } as JsonValue, (d: any) => {
      expect(Object.keys(d)).toEqual(['a', 'c']);
      expect(Array.isArray(d.a)).toBe(true);
      expect(JSON.stringify(d)).toBe('{"a":[1,{"b":2}],"c":"x"}');
      expect('c' in d).toBe(true);
      expect([...d.a].length).toBe(2);
      expect(Object.entries(d.a[1])).toEqual([['b', 2]]);
      expect(d.a.includes(d.a[1])).toBe(true);
    });
  });
});

describe('diff: arrays get a real diff', () => {
  it('a drop at the front and an append are one delete and one create, whatever the length', () => {
    const a = Array.from({ length: 1000 }, (_, i) => ({ i }));
    const b = [...a.slice(1).map((x) => ({ ...x })), { i: 1000 }]; // equal items, new objects: compared by content
    expect(diff({ a }, { a: b })).toEqual([
      { path: '/a/0', op: 'delete', oldValue: { i: 0 } },
      { path: '/a/999', op: 'create', newValue: { i: 1000 } },
    ]);
  });

  it('an insert in the middle is one create; an item edited in place is diffed inside', () => {
    const a = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    expect(diff({ a }, { a: [...a.slice(0, 4), 'X', ...a.slice(4)] })).toEqual([{ path: '/a/4', op: 'create', newValue: 'X' }]);
    const o = [
      { id: 1, t: 'x' },
      { id: 2, t: 'y' },
      { id: 3, t: 'z' },
    ];
    expect(diff({ o }, { o: [o[0]!, { id: 2, t: 'Y' }, o[2]!] })).toEqual([{ path: '/o/1/t', op: 'update', oldValue: 'y', newValue: 'Y' }]);
  });

  it('round-trips arrays with random insertions, deletions and moves', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 60 }), fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 60 }), (a, b) => {
        const changes = diff({ a }, { a: b });
        expect(applyChanges({ a }, changes)).toEqual({ a: b });
        expect(applyChanges({ a: b }, invertChanges(changes))).toEqual({ a });
      }),
      { numRuns: 500 },
    );
  });
});
