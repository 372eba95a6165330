import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyChanges, type Change } from '../../../src/domain/changeset.js';
import { canonicalBytes, checksum, checksumFromScratch, isChecksum } from '../../../src/domain/checksum.js';
import { produceWithChanges } from '../../../src/domain/draft.js';
import { InvalidInputError } from '../../../src/domain/errors.js';
import { canonicalJson, jsonEqual, type JsonValue } from '../../../src/domain/json.js';
import { json, jsonObject } from './arbitraries.js';
import { applyEdit, bigState, deepFreeze, editSeed } from './edits.js';

/**
 * The hash tree as docs/domain.md states it, written separately from
 * src/domain/checksum.ts: hash(v) = SHA-256(text(v)); text(v) = canonical
 * JSON of v with each directly nested container written as `#` + hash(child).
 */
function reference(v: JsonValue): string {
  const sha = (s: string) => createHash('sha256').update(Buffer.from(s, 'utf8')).digest('hex');
  const entry = (c: JsonValue) => (typeof c === 'object' && c !== null ? '#' + reference(c) : canonicalJson(c));
  if (typeof v !== 'object' || v === null) return sha(canonicalJson(v));
  if (Array.isArray(v)) return sha('[' + v.map(entry).join(',') + ']');
  const keys = Object.keys(v).sort();
  return sha('{' + keys.map((k) => canonicalJson(k) + ':' + entry(v[k] as JsonValue)).join(',') + '}');
}

const vectors = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', 'checksum-vectors.json'), 'utf8')) as {
  vectors: Array<{ name: string; canonicalJson: string; root: string }>;
};

describe('state checksum: the hash tree of docs/domain.md', () => {
  it.each(vectors.vectors.map((v) => [v.name, v] as const))('vector: %s', (_name, v) => {
    const value = JSON.parse(v.canonicalJson) as JsonValue;
    expect(canonicalJson(value)).toBe(v.canonicalJson);
    expect(checksumFromScratch(value)).toBe(v.root);
    expect(checksum(value)).toBe(v.root);
    expect(reference(value)).toBe(v.root);
  });

  it('has vectors covering nesting, key order, escapes and the flat case', () => {
    expect(vectors.vectors.length).toBeGreaterThanOrEqual(15);
    // A state without nested containers hashes as SHA-256 of its canonical JSON (echo -n '{"a":1}' | sha256sum).
    expect(checksum({ a: 1 })).toBe('015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862');
  });

  it('equals the reference and the from-scratch root for arbitrary JSON', () => {
    fc.assert(
      fc.property(json, (v) => {
        const root = checksumFromScratch(v);
        expect(isChecksum(root)).toBe(true);
        expect(checksum(v)).toBe(root);
        expect(reference(v)).toBe(root);
      }),
      { numRuns: 300 },
    );
  });

  it('knows the canonical size of every hashed subtree (elideOldValues reads it instead of writing the value out)', () => {
    const size = (v: JsonValue) => Buffer.byteLength(canonicalJson(v), 'utf8');
    const subtrees = (v: JsonValue): JsonValue[] => (typeof v === 'object' && v !== null ? [v, ...Object.values(v).flatMap((c) => subtrees(c))] : [v]);
    fc.assert(
      fc.property(json, json, (fresh, hashed) => {
        // Never hashed: computed (and remembered) on the spot.
        expect(canonicalBytes(fresh)).toBe(size(fresh));
        // Part of a state whose checksum was taken: every subtree answers from the memo.
        checksum(hashed);
        for (const sub of subtrees(hashed)) expect(canonicalBytes(sub)).toBe(size(sub));
      }),
      { numRuns: 300 },
    );
    // Multi-byte text, escapes and -0 count as canonical JSON writes them.
    const odd = { 'é"\\': ['\u2028', '\ud83d\ude00', -0, 1e21, '\u0001'], n: { m: null } };
    checksum(odd);
    expect(canonicalBytes(odd)).toBe(size(odd));
  });

  it('differs when any value differs, and depends only on the canonical JSON', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        const same = canonicalJson(a) === canonicalJson(b);
        expect(checksum(a) === checksum(b)).toBe(same);
      }),
      { numRuns: 300 },
    );
    expect(checksum({ b: [1, { c: -0 }], a: 'x' })).toBe(checksum(JSON.parse('{"a":"x","b":[1,{"c":0}]}')));
    expect(checksum({ a: [] })).not.toBe(checksum({ a: {} }));
    expect(checksum(['#' + checksum([])])).not.toBe(checksum([[]]));
  });

  it('refuses what canonical JSON refuses, with or without the memo', () => {
    for (const bad of [{ a: NaN }, { a: [undefined] }, { a: new Map() }, { a: () => 1 }, [1n]]) {
      expect(() => checksum(bad)).toThrow(InvalidInputError);
      expect(() => checksumFromScratch(bad)).toThrow(InvalidInputError);
    }
  });

  it('enforces the nesting limit on memoised subtrees moved deeper', () => {
    let deep: JsonValue = 1;
    for (let i = 0; i < 300; i++) deep = [deep];
    expect(checksum({ deep })).toBe(checksumFromScratch({ deep })); // memoises the 300-level subtree
    let wrapper: JsonValue = { deep };
    for (let i = 0; i < 250; i++) wrapper = [wrapper];
    expect(() => checksumFromScratch(wrapper)).toThrow(/nesting deeper than 512/);
    expect(() => checksum(wrapper)).toThrow(/nesting deeper than 512/);
  });
});

describe('incremental checksum = from-scratch after random change sequences', () => {
  it('through drafts and through applyChanges, including moves of large subtrees, deletes and arrays of objects', () => {
    fc.assert(
      fc.property(jsonObject, fc.array(editSeed(json), { minLength: 1, maxLength: 12 }), fc.nat(300), (extra, edits, n) => {
        // Frozen: nothing in the draft, diff, apply or checksum path may mutate a state once hashed.
        let viaDraft: JsonValue = deepFreeze({ ...bigState(n), extra });
        let viaApply: JsonValue = viaDraft;
        expect(checksum(viaDraft)).toBe(checksumFromScratch(viaDraft));
        for (const e of edits) {
          const shape: JsonValue = viaDraft;
          const { next, changes }: { next: JsonValue; changes: Change[] } = produceWithChanges<JsonValue>(viaDraft, (d): void => applyEdit(d, shape, e));
          viaApply = deepFreeze(applyChanges(viaApply, changes));
          viaDraft = deepFreeze(next);
          expect(jsonEqual(viaApply, viaDraft)).toBe(true);
          const root = checksumFromScratch(viaDraft);
          expect(checksum(viaDraft)).toBe(root);
          expect(checksum(viaApply)).toBe(root);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('rehashes only new containers: a chat-window update on a large state reuses every untouched node', () => {
    const base = deepFreeze(bigState(5000));
    checksum(base);
    const { next, changes } = produceWithChanges(base, (d: any) => {
      d.memory.conversation.push({ role: 'user', content: 'new', n: -1 });
      d.memory.conversation.shift();
    });
    expect(changes.map((c) => `${c.op} ${c.path}`)).toEqual(['delete /memory/conversation/0', 'create /memory/conversation/4999']);
    expect((next as any).memory.facts).toBe((base as any).memory.facts);
    expect((next as any).memory.conversation[0]).toBe((base as any).memory.conversation[1]);
    expect(checksum(next)).toBe(checksumFromScratch(next));
  });
});
