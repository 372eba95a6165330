import fc from 'fast-check';
import type { JsonValue } from '../../../src/domain/json.js';

/** Keys that stress path escaping and prototype handling. */
const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('a', 'b', '~', '/', '~1', '~0/', '', '__proto__', 'constructor', '0', '-', 'ключ', '🔑'));

/** Arbitrary JSON: nested objects and arrays, unicode, large and tiny numbers. */
export const json: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 64, 1e308, 5e-324, -0),
    fc.string({ unit: 'grapheme', maxLength: 12 }),
    fc.array(tie('value'), { maxLength: 12 }),
    fc.dictionary(key, tie('value'), { maxKeys: 6 }),
  ),
})).value;

/** A pair of related JSON objects: b is a random edit of a, so diffs are non-trivial. */
export const jsonObject = fc.dictionary(key, json, { maxKeys: 8 });
