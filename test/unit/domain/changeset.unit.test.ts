import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyChanges, diff, elideOldValues, invertChanges } from '../../../src/domain/changeset.js';
import { InvalidInputError, InvalidPathError } from '../../../src/domain/errors.js';
import { canonicalJson, jsonEqual, type JsonValue } from '../../../src/domain/json.js';
import { json, jsonObject } from './arbitraries.js';

describe('diff / applyChanges', () => {
  it('applyChanges(a, diff(a, b)) equals b for arbitrary JSON', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        const out = applyChanges(a, diff(a, b));
        expect(canonicalJson(out)).toBe(canonicalJson(b));
        expect(jsonEqual(out, b)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('round-trips between related objects (edits, deletions, array growth and shrink)', () => {
    fc.assert(
      fc.property(jsonObject, jsonObject, jsonObject, (base, extra, replace) => {
        const a = { ...base, list: Object.values(extra) };
        const b: Record<string, JsonValue> = { ...base, ...replace, list: Object.values(replace) };
        for (const k of Object.keys(extra)) if (k.length % 2 === 0) delete b[k];
        expect(jsonEqual(applyChanges(a, diff(a, b)), b)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('never mutates its input', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        const before = canonicalJson(a);
        applyChanges(a, diff(a, b));
        expect(canonicalJson(a)).toBe(before);
      }),
      { numRuns: 200 },
    );
  });

  it('invertChanges undoes a changeset', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        const changes = diff(a, b);
        expect(jsonEqual(applyChanges(applyChanges(a, changes), invertChanges(changes)), a)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('with old values left out, a changeset still applies the same and inverts from the state before it', () => {
    fc.assert(
      fc.property(json, json, fc.integer({ min: 0, max: 64 }), (a, b, max) => {
        const changes = diff(a, b);
        const elided = elideOldValues(changes, max);
        for (const [i, c] of elided.entries()) {
          const full = changes[i]!;
          if (c.oldValue === undefined && full.oldValue !== undefined) {
            // Left out only when over the limit, and its exact UTF-8 size is kept.
            expect(c.oldBytes).toBe(Buffer.byteLength(canonicalJson(full.oldValue)));
            expect(c.oldBytes!).toBeGreaterThan(max);
          } else expect(c).toEqual(full);
        }
        expect(canonicalJson(applyChanges(a, elided))).toBe(canonicalJson(b));
        expect(canonicalJson(applyChanges(b, invertChanges(elided, a)))).toBe(canonicalJson(a));
      }),
      { numRuns: 300 },
    );
  });

  it('leaves out the dropped turn of a chat window, not the new one, and says what inverting then needs', () => {
    const turn = (i: number) => ({ role: 'user', content: `é${'x'.repeat(600)}${i}` });
    const a = { memory: { conversation: [turn(0), turn(1), turn(2)] } };
    const b = { memory: { conversation: [turn(1), turn(2), turn(3)] } };
    const elided = elideOldValues(diff(a, b), 256);
    expect(elided).toEqual([
      { path: '/memory/conversation/0', op: 'delete', oldBytes: Buffer.byteLength(JSON.stringify(turn(0))) },
      { path: '/memory/conversation/2', op: 'create', newValue: turn(3) },
    ]);
    expect(() => invertChanges(elided)).toThrow(InvalidInputError);
    expect(elideOldValues(diff(a, b), Infinity)).toEqual(diff(a, b));
  });

  it('appending to a history costs one create per new item', () => {
    const a = { history: [{ t: 1 }, { t: 2 }] };
    const b = { history: [{ t: 1 }, { t: 2 }, { t: 3 }] };
    expect(diff(a, b)).toEqual([{ path: '/history/2', op: 'create', newValue: { t: 3 } }]);
  });

  it('replaces a mostly changed array (a new embedding) with a single update', () => {
    const a = { v: Array.from({ length: 32 }, (_, i) => i / 10) };
    const b = { v: Array.from({ length: 32 }, (_, i) => i / 7) };
    expect(diff(a, b)).toEqual([{ path: '/v', op: 'update', oldValue: a.v, newValue: b.v }]);
  });

  it('escapes keys containing / and ~ in paths', () => {
    expect(diff({}, { 'a/b': 1, 'c~d': 2 })).toEqual([
      { path: '/a~1b', op: 'create', newValue: 1 },
      { path: '/c~0d', op: 'create', newValue: 2 },
    ]);
  });

  it('keeps __proto__ as data, never as the prototype', () => {
    const out = applyChanges({}, [{ path: '/__proto__', op: 'create', newValue: { polluted: true } }]) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });
});

describe('applyChanges refuses malformed changesets with typed errors', () => {
  const doc = { a: { b: [1, 2, 3] }, s: 'x' };
  const cases: [string, Parameters<typeof applyChanges>[1], RegExp][] = [
    ['no leading slash', [{ path: 'a/b', op: 'update', newValue: 1 }], /must be empty or start with '\/'/],
    ['bad escape', [{ path: '/a~2', op: 'create', newValue: 1 }], /'~' not followed by 0 or 1/],
    ['missing parent', [{ path: '/nope/x', op: 'create', newValue: 1 }], /segment 0 "nope" does not exist/],
    ['index out of range', [{ path: '/a/b/7', op: 'update', newValue: 1 }], /index 7 out of range 0\.\.2/],
    ['non-canonical index', [{ path: '/a/b/01', op: 'update', newValue: 1 }], /"01" is not an array index/],
    ['negative index', [{ path: '/a/b/-1', op: 'delete' }], /"-1" is not an array index/],
    ['through a string', [{ path: '/s/0', op: 'update', newValue: 1 }], /resolves to a string, not a container/],
    ['create existing', [{ path: '/s', op: 'create', newValue: 1 }], /already exists/],
    ['update missing', [{ path: '/t', op: 'update', newValue: 1 }], /does not exist/],
    ['delete root', [{ path: '', op: 'delete' }], /whole document/],
  ];
  it.each(cases)('%s → InvalidPathError', (_name, changes, message) => {
    expect(() => applyChanges(doc, changes)).toThrow(InvalidPathError);
    expect(() => applyChanges(doc, changes)).toThrow(message);
  });

  it('a create without newValue or an unknown op → InvalidInputError', () => {
    expect(() => applyChanges(doc, [{ path: '/z', op: 'create' }])).toThrow(InvalidInputError);
    expect(() => applyChanges(doc, [{ path: '/z', op: 'upsert' as never, newValue: 1 }])).toThrow(/unknown op "upsert"/);
  });

  it('fuzz: arbitrary paths and ops only ever fail with typed errors', () => {
    const pathArb = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.array(fc.constantFrom('a', 'b', '0', '3', '-', '~', '~1', '01', ''), { maxLength: 5 }).map((s) => '/' + s.join('/')),
    );
    fc.assert(
      fc.property(pathArb, fc.constantFrom('create', 'update', 'delete', 'move'), fc.option(fc.jsonValue(), { nil: undefined }), (path, op, newValue) => {
        try {
          applyChanges(doc, [{ path, op: op as never, ...(newValue === undefined ? {} : { newValue: newValue as never }) }]);
        } catch (error) {
          return error instanceof InvalidPathError || error instanceof InvalidInputError;
        }
        return true;
      }),
      { numRuns: 1000 },
    );
  });

  it('supports "-" to append and inserts at an index', () => {
    expect(
      applyChanges({ l: [1, 3] }, [
        { path: '/l/-', op: 'create', newValue: 4 },
        { path: '/l/1', op: 'create', newValue: 2 },
      ]),
    ).toEqual({ l: [1, 2, 3, 4] });
  });
});
