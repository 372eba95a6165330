import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/domain/errors.js';
import { toJsonValue } from '../../../src/domain/json.js';
import { json } from './arbitraries.js';

describe('toJsonValue (what a draft function leaves becomes the next state)', () => {
  it('returns plain JSON itself, uncopied, and equal to a JSON round trip', () => {
    fc.assert(
      fc.property(json, (v) => {
        const parsed: unknown = JSON.parse(JSON.stringify(v)); // what a decoded state looks like
        expect(toJsonValue(parsed)).toBe(parsed);
        expect(toJsonValue(v)).toEqual(parsed); // -0 becomes 0, as in JSON
      }),
      { numRuns: 300 },
    );
  });

  it('reads a Date as its ISO string and drops properties set to undefined, copying only the containers on the way', () => {
    const untouched = { deep: { list: [1, 2] } };
    const draft = { at: new Date('2026-11-29T10:00:00.000Z'), gone: undefined, keep: untouched, nested: [{ when: new Date(0) }] };
    const out = toJsonValue(draft) as Record<string, unknown>;
    expect(out).toEqual({ at: '2026-11-29T10:00:00.000Z', keep: untouched, nested: [{ when: '1970-01-01T00:00:00.000Z' }] });
    expect(Object.hasOwn(out, 'gone')).toBe(false);
    expect(out.keep).toBe(untouched);
    expect(Object.hasOwn(draft, 'gone')).toBe(true); // the input is not mutated
  });

  it('refuses what JSON.stringify would silently change or lose, naming where', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ a: { score: Number.NaN } }, /NaN at \/a\/score/],
      [{ a: [1, Infinity] }, /Infinity at \/a\/1/],
      [{ tags: new Set(['x']) }, /Set at \/tags/],
      [{ index: new Map([['k', 1]]) }, /Map at \/index/],
      [{ n: 10n }, /bigint at \/n/],
      [{ f: () => 1 }, /function at \/f/],
      [{ list: [1, undefined] }, /undefined array item at \/list\/1/],
    ];
    for (const [value, message] of cases) {
      expect(() => toJsonValue(value)).toThrow(InvalidInputError);
      expect(() => toJsonValue(value)).toThrow(message);
    }
  });
});
