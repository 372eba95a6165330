import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checksum, isChecksum } from '../../../src/domain/checksum.js';
import { InvalidInputError } from '../../../src/domain/errors.js';
import { canonicalJson } from '../../../src/domain/json.js';
import { json } from './arbitraries.js';

function shuffleKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v) => shuffleKeys(v, seed));
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  const out: Record<string, unknown> = {};
  const order = keys.map((k, i) => [k, (i * 7919 + seed) % (keys.length + 1)] as const).sort((x, y) => x[1] - y[1]);
  for (const [k] of order) Object.defineProperty(out, k, { value: shuffleKeys((value as Record<string, unknown>)[k], seed), enumerable: true, writable: true, configurable: true });
  return out;
}

describe('canonicalJson', () => {
  it('sorts keys at every level and has no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 0, y: null }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"y":null,"z":0}]},"b":1}');
  });

  it('is independent of key insertion order', () => {
    fc.assert(
      fc.property(json, fc.nat(1000), (v, seed) => {
        expect(canonicalJson(shuffleKeys(v, seed))).toBe(canonicalJson(v));
      }),
      { numRuns: 300 },
    );
  });

  it('parses back to an equal value', () => {
    fc.assert(
      fc.property(json, (v) => {
        expect(canonicalJson(JSON.parse(canonicalJson(v)))).toBe(canonicalJson(v));
      }),
      { numRuns: 300 },
    );
  });

  it('writes numbers in one stable form (RFC 8785 style)', () => {
    expect(canonicalJson([1.0, -0, 1e21, 1e-7, 0.1 + 0.2, 2 ** 64, 100])).toBe('[1,0,1e+21,1e-7,0.30000000000000004,18446744073709552000,100]');
  });

  it('orders keys by UTF-16 code units (as RFC 8785 does)', () => {
    expect(canonicalJson({ '\u{1F600}': 1, '\uFFFF': 2, a: 3, B: 4 })).toBe('{"B":4,"a":3,"😀":1,"\uFFFF":2}');
  });

  it('orders integer-like keys by code units too, not numerically as JavaScript does', () => {
    expect(canonicalJson({ a: 4, 9: 2, 10: 1, '-': 3, nested: [{ 2: 'x', 10: 'y', b: 0 }] })).toBe('{"-":3,"10":1,"9":2,"a":4,"nested":[{"10":"y","2":"x","b":0}]}');
  });

  it('matches a straightforward token-by-token reference for arbitrary JSON', () => {
    const reference = (v: unknown): string => {
      if (v === null || typeof v !== 'object') return JSON.stringify(v);
      if (Array.isArray(v)) return `[${v.map(reference).join(',')}]`;
      const o = v as Record<string, unknown>;
      return `{${Object.keys(o)
        .sort()
        .filter((k) => o[k] !== undefined)
        .map((k) => `${JSON.stringify(k)}:${reference(o[k])}`)
        .join(',')}}`;
    };
    fc.assert(
      fc.property(json, (v) => {
        expect(canonicalJson(v)).toBe(reference(v));
      }),
      { numRuns: 400 },
    );
  });

  it('refuses values that are not JSON, saying where', () => {
    expect(() => canonicalJson({ at: new Date(0) })).toThrow(/Date at \/at is not a plain JSON object/);
    expect(() => canonicalJson({ a: [1, Number.NaN] })).toThrow(InvalidInputError);
    expect(() => canonicalJson({ a: [1, Number.NaN] })).toThrow(/NaN at \/a\/1 is not finite/);
    expect(() => canonicalJson({ big: 10n })).toThrow(/bigint at \/big/);
    expect(() => canonicalJson([undefined])).toThrow(/undefined array item/);
  });

  it('refuses absurd nesting instead of overflowing the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(/nesting deeper than 512/);
  });
});

describe('checksum', () => {
  it('is the SHA-256 hex of the canonical JSON', () => {
    // echo -n '{"a":1}' | sha256sum
    expect(checksum({ a: 1 })).toBe('015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862');
    expect(isChecksum(checksum({ a: 1 }))).toBe(true);
  });

  it('differs when any value differs', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        fc.pre(canonicalJson(a) !== canonicalJson(b));
        expect(checksum(a)).not.toBe(checksum(b));
      }),
      { numRuns: 200 },
    );
  });
});
