import { randomUUID } from 'node:crypto';
import { Binary, type Collection, type Document } from 'mongodb';
import pg from 'pg';
import { storableString } from '../state-fields.js';

/**
 * FerretDB 1.x on PostgreSQL keeps each document as one `jsonb` value: the
 * field values as JSON (dates as milliseconds, binary as base64) beside a
 * `$s` schema that records each field's BSON type and the key order
 * (`{"p": {field: {"t": type, ...}}, "$k": [keys]}`). This module writes that
 * form for the event mirror's rows, so they can be inserted with one SQL
 * statement per batch instead of one FerretDB insert per 50 rows (issue 11:
 * FerretDB's conversion of each document was the projector's largest cost).
 *
 * Only the value types the store's documents use are encoded: strings,
 * numbers (int32 or double, chosen exactly as the MongoDB driver's BSON
 * serialiser chooses), booleans, null, Date, Binary/Buffer, objects and
 * arrays. Anything else, or anything FerretDB would refuse (a NUL or a lone
 * surrogate in a string, a key starting with `$` or holding a `.`, an array
 * directly inside an array, a non-finite number), throws
 * {@link NotEncodable}, and the caller sends the document through FerretDB
 * instead. {@link probeFerretdbRows} checks, once per store, that this form
 * is exactly what the running FerretDB writes for the same document.
 */

/** A value {@link encodeFerretdbRow} does not write itself (the caller inserts through FerretDB instead). */
export class NotEncodable extends Error {}

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

/** A string FerretDB stores as is: no NUL (PostgreSQL's jsonb and FerretDB refuse it), no lone surrogate (BSON would turn it into U+FFFD). */
function checkString(s: string): void {
  if (!storableString(s)) throw new NotEncodable('a string with a NUL or a lone surrogate');
}

/**
 * The schema of one value, as JSON text; checks everything the value text
 * (made by {@link valueText}) cannot: the types, the strings and the keys.
 * `inArray` refuses a nested array (FerretDB 1.x refuses them).
 */
function schemaOf(v: unknown, inArray: boolean, walk: Walk): string {
  if (v === null) return '{"t":"null"}';
  switch (typeof v) {
    case 'string':
      checkString(v);
      return '{"t":"string"}';
    case 'boolean':
      return '{"t":"bool"}';
    case 'number':
      if (!Number.isFinite(v)) throw new NotEncodable('a non-finite number');
      // As the driver serialises a JS number: int32 when it is a safe integer in range and not -0, else a double (-0 is stored as 0, as FerretDB does).
      return !Object.is(v, -0) && Number.isSafeInteger(v) && v >= INT32_MIN && v <= INT32_MAX ? '{"t":"int"}' : '{"t":"double"}';
    case 'object':
      break;
    default:
      throw new NotEncodable(`a ${typeof v} value`);
  }
  if (v instanceof Date) {
    if (!Number.isFinite(v.getTime())) throw new NotEncodable('an invalid Date');
    walk.special++;
    return '{"t":"date"}';
  }
  if (v instanceof Binary || Buffer.isBuffer(v)) {
    walk.special++;
    return v instanceof Binary ? `{"t":"binData","s":${v.sub_type}}` : '{"t":"binData","s":0}';
  }
  if (Array.isArray(v)) {
    if (inArray) throw new NotEncodable('an array inside an array');
    return `{"t":"array","i":[${v.map((item: unknown) => schemaOf(item, true, walk)).join(',')}]}`;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) throw new NotEncodable('an object that is not plain JSON');
  return `{"t":"object","$s":${objectSchema(v as Record<string, unknown>, walk)}}`;
}

/** What a schema walk saw: how many dates and binaries (their value text is not JSON.stringify's). */
interface Walk {
  special: number;
}

/** An object's schema: `{"p": {key: schema}, "$k": [keys in order]}`, or `{}` when it has no keys. */
function objectSchema(o: Record<string, unknown>, walk: Walk): string {
  const keys = Object.keys(o);
  if (keys.length === 0) return '{}';
  const p: string[] = [];
  const order: string[] = [];
  for (const k of keys) {
    if (k.startsWith('$') || k.includes('.') || k === '') throw new NotEncodable(`the key ${JSON.stringify(k)}`);
    checkString(k);
    const item = o[k];
    if (item === undefined) throw new NotEncodable('an undefined value');
    const key = JSON.stringify(k);
    p.push(`${key}:${schemaOf(item, false, walk)}`);
    order.push(key);
  }
  return `{"p":{${p.join(',')}},"$k":[${order.join(',')}]}`;
}

/** A date as its milliseconds, binary as base64, as FerretDB stores them; anything else as is. */
function plainValue(v: unknown): unknown {
  if (v instanceof Date) return v.getTime();
  if (v instanceof Binary) return Buffer.from(v.buffer.buffer, v.buffer.byteOffset, v.position).toString('base64');
  if (Buffer.isBuffer(v)) return v.toString('base64');
  return v;
}

/** JSON.stringify's replacer for dates and binaries below the top level (the original value is `this[key]`: `toJSON` ran already). */
function valueReplacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const original = this[key];
  return original instanceof Date || original instanceof Binary || Buffer.isBuffer(original) ? plainValue(original) : value;
}

/**
 * The jsonb text FerretDB 1.x on PostgreSQL stores for `doc` (a document
 * whose first key is `_id`, as the store's documents are). The values are
 * one `JSON.stringify` of the document with its top-level dates and binaries
 * replaced (a call per string, or a replacer, cost two to three times as much
 * on mirror rows); the schema walk checks every value first.
 * @throws NotEncodable for a value outside the types above
 */
export function encodeFerretdbRow(doc: Document): string {
  if (Object.keys(doc)[0] !== '_id') throw new NotEncodable('a document whose first key is not _id');
  const walk: Walk = { special: 0 };
  const schema = objectSchema(doc, walk);
  const top: Record<string, unknown> = {};
  let replaced = 0;
  for (const k of Object.keys(doc)) {
    const v: unknown = doc[k];
    const plain = plainValue(v);
    if (plain !== v) replaced++;
    top[k] = plain;
  }
  // Dates or binaries deeper down: the (slower) replacer finds them.
  const values = replaced === walk.special ? JSON.stringify(top) : JSON.stringify(doc, valueReplacer);
  // `$s` first, then the document's own fields (`$s` is not a key of any document: FerretDB refuses keys starting with `$`).
  return `{"$s":${schema},${values.slice(1)}`;
}

/** The qualified PostgreSQL table of `collection` in FerretDB's schema for `database`, or undefined when it does not exist yet. */
export async function ferretdbTable(pool: pg.Pool, database: string, collection: string): Promise<string | undefined> {
  const schema = pg.escapeIdentifier(database);
  try {
    const r = await pool.query<{ table: string }>(`SELECT _jsonb->>'table' AS table FROM ${schema}._ferretdb_database_metadata WHERE _jsonb->>'_id' = $1`, [collection]);
    const table = r.rows[0]?.table;
    return table === undefined ? undefined : `${schema}.${pg.escapeIdentifier(table)}`;
  } catch (err) {
    // 42P01 undefined_table / 3F000 invalid_schema_name: the database has no collection yet.
    const code = (err as { code?: unknown }).code;
    if (code === '42P01' || code === '3F000') return undefined;
    throw err;
  }
}

/**
 * Inserts rows (from {@link encodeFerretdbRow}) into a FerretDB table, each
 * only if absent: one statement, so all or none; a row whose `_id` or other
 * unique key (FerretDB's unique indexes are PostgreSQL unique indexes on the
 * same expressions) is already there is skipped, as FerretDB's insert skips a
 * duplicate key. Returns how many rows were inserted.
 */
export async function insertFerretdbRows(pool: pg.Pool, table: string, rows: string[]): Promise<number> {
  // One JSON array as the parameter: node-postgres escapes a text[] parameter
  // character by character (~0.2 ms per 8 KB row, more than the encoding).
  const r = await pool.query(`INSERT INTO ${table} (_jsonb) SELECT r FROM jsonb_array_elements($1::jsonb) AS r ON CONFLICT DO NOTHING`, [`[${rows.join(',')}]`]);
  return r.rowCount ?? 0;
}

/**
 * Writes state rows (from {@link encodeFerretdbRow}, one per `_id`) into a
 * FerretDB table with a version guard, in one statement: a row is inserted,
 * or replaces the stored document only when the stored `version` is lower,
 * as the store's guarded `replaceOne({_id, version: {$lt: v}}, doc, {upsert})`
 * does (atomically here: the conflict is resolved on FerretDB's unique `_id`
 * index). Returns how many rows were written (inserted or replaced).
 */
export async function upsertFerretdbRows(pool: pg.Pool, table: string, rows: string[]): Promise<number> {
  const r = await pool.query(
    `INSERT INTO ${table} AS cur (_jsonb) SELECT r FROM jsonb_array_elements($1::jsonb) AS r
     ON CONFLICT ((_jsonb -> '_id')) DO UPDATE SET _jsonb = EXCLUDED._jsonb WHERE (cur._jsonb -> 'version') < (EXCLUDED._jsonb -> 'version')`,
    [`[${rows.join(',')}]`],
  );
  return r.rowCount ?? 0;
}

/**
 * A document with a field of every type {@link encodeFerretdbRow} writes,
 * shaped like a mirror row (nested objects, arrays of objects, empty ones,
 * binary, dates, int32 and double numbers).
 */
function probeDocument(id: string): Document {
  return {
    _id: id,
    text: 'é\u2028"\\/\t<x>',
    int: -7,
    large: 1796311854728,
    double: 0.1,
    tiny: 1e-7,
    huge: 1e300,
    negativeZero: -0,
    yes: true,
    no: false,
    nothing: null,
    at: new Date(1796311854915),
    bytes: new Binary(Buffer.from('{"a":1}\u0000\u00ff', 'latin1')),
    empty: {},
    none: [],
    list: ['a', 1, 2.5, null, { field: '/x', changeType: 'update', newValue: '"y"' }, {}],
    nested: { position: { partition: 3, offset: '12345678901234567890' }, z: 'last', '10': 'numeric key', a: 'first', at: new Date(0), bytes: Buffer.from('x') },
  };
}

/**
 * True when the running FerretDB stores a probe document exactly as
 * {@link encodeFerretdbRow} encodes it (equal jsonb, schema included): the
 * probe is inserted through FerretDB into `coll` under a random `_id`, read
 * from PostgreSQL, compared there, and deleted. False on any difference, e.g.
 * another FerretDB version: the caller then keeps inserting through FerretDB.
 */
export async function probeFerretdbRows(pool: pg.Pool, database: string, coll: Collection<Document>): Promise<boolean> {
  const doc = probeDocument(`agentstate-row-probe:${randomUUID()}`);
  await coll.insertOne(doc);
  try {
    const table = await ferretdbTable(pool, database, coll.collectionName);
    if (table === undefined) return false;
    const r = await pool.query<{ same: boolean }>(`SELECT _jsonb = $2::jsonb AS same FROM ${table} WHERE _jsonb->'_id' = to_jsonb($1::text)`, [doc._id, encodeFerretdbRow(doc)]);
    return r.rows[0]?.same === true;
  } finally {
    await coll.deleteOne({ _id: doc._id });
  }
}
