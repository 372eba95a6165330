import { Binary } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { encodeFerretdbRow, NotEncodable } from '../../../src/store/mongo/ferretdb-rows.js';

/**
 * The jsonb form FerretDB 1.x on PostgreSQL stores documents in. The
 * expected values below are what FerretDB 1.24.2 on PostgreSQL 15 stored for
 * the same documents inserted through the MongoDB driver (read back from its
 * table); test/int/store/ferretdb-rows.int.test.ts compares against the
 * running server.
 */
describe('encodeFerretdbRow', () => {
  it('writes the values beside a schema of their BSON types and key order', () => {
    const doc = {
      _id: 'a',
      s: 'x',
      i: 3,
      big: 1796311854728,
      d: 1.5,
      negz: -0,
      b: true,
      n: null,
      dt: new Date(1796311854915),
      bin: new Binary(Buffer.from('hello')),
      e: {},
      ea: [],
      arr: ['a', 1, { k: 1 }, null, 2.5],
      o: { z: 1, a: { y: 'q' } },
    };
    expect(JSON.parse(encodeFerretdbRow(doc))).toEqual({
      $s: {
        p: {
          _id: { t: 'string' },
          s: { t: 'string' },
          i: { t: 'int' },
          big: { t: 'double' },
          d: { t: 'double' },
          negz: { t: 'double' },
          b: { t: 'bool' },
          n: { t: 'null' },
          dt: { t: 'date' },
          bin: { t: 'binData', s: 0 },
          e: { t: 'object', $s: {} },
          ea: { t: 'array', i: [] },
          arr: { t: 'array', i: [{ t: 'string' }, { t: 'int' }, { t: 'object', $s: { p: { k: { t: 'int' } }, $k: ['k'] } }, { t: 'null' }, { t: 'double' }] },
          o: { t: 'object', $s: { p: { z: { t: 'int' }, a: { t: 'object', $s: { p: { y: { t: 'string' } }, $k: ['y'] } } }, $k: ['z', 'a'] } },
        },
        $k: ['_id', 's', 'i', 'big', 'd', 'negz', 'b', 'n', 'dt', 'bin', 'e', 'ea', 'arr', 'o'],
      },
      _id: 'a',
      s: 'x',
      i: 3,
      big: 1796311854728,
      d: 1.5,
      negz: 0,
      b: true,
      n: null,
      dt: 1796311854915,
      bin: 'aGVsbG8=',
      e: {},
      ea: [],
      arr: ['a', 1, { k: 1 }, null, 2.5],
      o: { z: 1, a: { y: 'q' } },
    });
  });

  it('chooses int32 or double as the MongoDB driver does', () => {
    const types = (v: number): unknown => (JSON.parse(encodeFerretdbRow({ _id: 'n', v })) as { $s: { p: { v: { t: string } } } }).$s.p.v.t;
    expect([0, -1, 2 ** 31 - 1, -(2 ** 31)].map(types)).toEqual(['int', 'int', 'int', 'int']);
    expect([2 ** 31, -(2 ** 31) - 1, 0.5, 2 ** 53, 1e300, -0].map(types)).toEqual(['double', 'double', 'double', 'double', 'double', 'double']);
  });

  it('converts dates and binary below the top level too', () => {
    const row = JSON.parse(encodeFerretdbRow({ _id: 'x', o: { at: new Date(5), b: [Buffer.from('hi'), new Binary(Buffer.from('yo'), 4)] } })) as Record<string, unknown>;
    expect(row.o).toEqual({ at: 5, b: ['aGk=', 'eW8='] });
    expect((row.$s as { p: Record<string, unknown> }).p.o).toEqual({
      t: 'object',
      $s: {
        p: {
          at: { t: 'date' },
          b: {
            t: 'array',
            i: [
              { t: 'binData', s: 0 },
              { t: 'binData', s: 4 },
            ],
          },
        },
        $k: ['at', 'b'],
      },
    });
  });

  it('refuses what FerretDB would refuse or store differently (the store then inserts through FerretDB)', () => {
    const refused: Array<[string, Record<string, unknown>]> = [
      ['nested array', { _id: 'x', a: [[1]] }],
      ['NUL', { _id: 'x', s: 'a\u0000b' }],
      ['lone surrogate', { _id: 'x', s: '\ud800' }],
      ['lone surrogate key', { _id: 'x', o: { '\udc00': 1 } }],
      ['dotted key', { _id: 'x', o: { 'a.b': 1 } }],
      ['$ key', { _id: 'x', o: { $set: 1 } }],
      ['empty key', { _id: 'x', o: { '': 1 } }],
      ['undefined', { _id: 'x', u: undefined }],
      ['NaN', { _id: 'x', n: Number.NaN }],
      ['Infinity', { _id: 'x', n: Number.POSITIVE_INFINITY }],
      ['bigint', { _id: 'x', n: 1n }],
      ['invalid date', { _id: 'x', d: new Date(Number.NaN) }],
      ['class instance', { _id: 'x', m: new Map() }],
      ['_id not first', { a: 1, _id: 'x' }],
    ];
    for (const [what, doc] of refused) expect(() => encodeFerretdbRow(doc), what).toThrow(NotEncodable);
  });
});
