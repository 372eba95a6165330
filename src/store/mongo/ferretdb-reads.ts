import { Binary, type Document } from 'mongodb';
import type pg from 'pg';
import type { EventQuery, SnapshotQuery, StoredEvent } from '../port.js';
import type { SnapshotDoc } from './documents.js';
import { DecodeError } from '../../errors.js';
import { joinEventBody, type ChangeText } from '../event-body.js';

/**
 * Reads of the event mirror and the snapshot metadata straight from the
 * PostgreSQL tables under FerretDB 1.x (with `ferretdbPostgresUrl`), in the
 * document form ferretdb-rows.ts describes (values as JSON, dates as
 * milliseconds, binaries as base64, a `$s` schema naming each field's type).
 *
 * Why: FerretDB 1.24 pushes only the `instanceId` equality of
 * `find({instanceId, version: {$gte, $lte}}).sort({version: 1})` down; it
 * fetches and converts every row of the agent, then filters the range and
 * sorts in FerretDB. One agent's history therefore cost O(its whole history)
 * per query: 96 ms for the single `to` row of a 30-event agent, 2.2-5.7 s for
 * the `to` row of a 2,000-event agent (issue 11, measured on the dev stack).
 * Here the whole filter, the order and the limit run in PostgreSQL on
 * FerretDB's own `(instanceId, version)` and `(instanceId, timestamp)` B-tree
 * indexes.
 */

/** A value's type in FerretDB's `$s` schema: `{"t": type, "$s": object schema, "i": item schemas}`. */
interface ValueSchema {
  t?: string;
  $s?: ObjectSchema;
  i?: ValueSchema[];
}

/** An object's `$s`: `{"p": {key: value schema}, "$k": [keys]}`, or `{}` for an empty object. */
interface ObjectSchema {
  p?: Record<string, ValueSchema>;
  $k?: string[];
}

/** One value back to what the MongoDB driver returns: a date as a `Date`, binary as `Binary`, containers recursively. */
function restoreValue(v: unknown, schema: ValueSchema | undefined): unknown {
  switch (schema?.t) {
    case 'date':
      return new Date(v as number);
    case 'binData':
      return new Binary(Buffer.from(v as string, 'base64'));
    case 'object':
      return restoreObject(v as Record<string, unknown>, schema.$s);
    case 'array': {
      const items = schema.i ?? [];
      return (v as unknown[]).map((item, n) => restoreValue(item, items[n]));
    }
    default:
      return v;
  }
}

/** An object's fields in the schema's key order (as FerretDB returns them), each restored. */
function restoreObject(o: Record<string, unknown>, schema: ObjectSchema | undefined): Document {
  const out: Document = {};
  const keys = schema?.$k ?? Object.keys(o);
  for (const k of keys) if (k in o) out[k] = restoreValue(o[k], schema?.p?.[k]);
  return out;
}

/**
 * A document as the MongoDB driver would return it through FerretDB, from
 * the jsonb FerretDB stores (parsed): `$s` removed, dates and binaries
 * restored. Fields the row does not hold (left out by the query) are absent.
 */
export function documentOfFerretdbRow(row: Record<string, unknown>): Document {
  const { $s: schema, ...fields } = row;
  return restoreObject(fields, schema as ObjectSchema | undefined);
}

/** A query's WHERE clause and parameters (jsonb comparisons on FerretDB's indexed expressions). */
class Where {
  readonly terms: string[] = [];
  readonly params: unknown[] = [];
  param(v: unknown): string {
    this.params.push(v);
    return `$${this.params.length}`;
  }
  toString(): string {
    return this.terms.length > 0 ? `WHERE ${this.terms.join(' AND ')}` : '';
  }
}

/**
 * The fields {@link ferretdbEventRows} reads, with their SQL types, out of one
 * `jsonb_to_record` of the document (the body as its base64 text, or the rest
 * of it beside the changeset: documents.ts `EventDoc`). One call
 * reads the stored document once; an `_jsonb -> 'field'` per column read it
 * once per column (2.0 against 4.5 ms for 30 rows, 36 against 55 ms for
 * 2,000 rows of one agent on the dev stack), and rebuilding the document
 * without `eventData` (`_jsonb - 'eventData'`) cost twice as much again.
 */
const EVENT_RECORD = `jsonb_to_record(_jsonb) AS r("instanceId" text, version float8, epoch float8, "eventId" text, "eventType" text, timestamp float8, "stateChecksum" text, position jsonb, body text, "bodyRest" text)`;

/** The changeset of the query view, read only for a row whose body is kept as `bodyRest` (it is then the only copy of the changes). */
const EVENT_CHANGES = `CASE WHEN r."bodyRest" IS NULL THEN NULL ELSE _jsonb #> '{eventData,changeset}' END AS changes`;

/** A row of {@link EVENT_RECORD}: the port's fields, the body as base64 text or its rest and the changes. */
type EventRecord = Omit<StoredEvent, 'body' | 'parsed' | 'parts'> & { body: string | null; bodyRest: string | null; changes: ChangeText[] | null };

/**
 * Mirror rows of one agent, as `MongoStore.queryEvents` returns them, from
 * FerretDB's `state_events` table: `instanceId` equality, version and time
 * ranges, event types, in version order, at most `limit`. Same semantics as
 * the MongoDB query: `version` and `timestamp` (milliseconds in the row) are
 * numbers in every row, which jsonb compares numerically. Only the fields the
 * port returns are read out ({@link EVENT_RECORD}): the mirror's `eventData`
 * (a second copy of the changeset) never crosses the wire.
 */
export async function ferretdbEventRows(pool: pg.Pool, table: string, q: EventQuery, limit: number | undefined): Promise<StoredEvent[]> {
  const w = new Where();
  w.terms.push(`_jsonb -> 'instanceId' = to_jsonb(${w.param(q.instanceId)}::text)`);
  if (q.fromVersion !== undefined) w.terms.push(`_jsonb -> 'version' >= to_jsonb(${w.param(q.fromVersion)}::float8)`);
  if (q.toVersion !== undefined) w.terms.push(`_jsonb -> 'version' <= to_jsonb(${w.param(q.toVersion)}::float8)`);
  if (q.fromTime !== undefined) w.terms.push(`_jsonb -> 'timestamp' >= to_jsonb(${w.param(q.fromTime)}::float8)`);
  if (q.toTime !== undefined) w.terms.push(`_jsonb -> 'timestamp' <= to_jsonb(${w.param(q.toTime)}::float8)`);
  if (q.eventTypes !== undefined) w.terms.push(`_jsonb ->> 'eventType' = ANY (${w.param(q.eventTypes)}::text[])`);
  const order = q.order === 'desc' ? 'DESC' : 'ASC';
  const lim = limit === undefined || limit === 0 ? '' : `LIMIT ${w.param(limit)}`;
  const sql = `SELECT r.*, ${EVENT_CHANGES} FROM ${table}, ${EVENT_RECORD} ${w.toString()} ORDER BY _jsonb -> 'version' ${order} ${lim}`;
  const rows = (await pool.query<EventRecord>(sql, w.params)).rows;
  return rows.map(({ body, bodyRest, changes, ...r }) => ({
    ...r,
    // `position` in the port's key order (jsonb orders keys by length).
    position: { partition: r.position.partition, offset: r.position.offset },
    body: body !== null ? Buffer.from(body, 'base64') : Buffer.from(joinEventBody(restOf(bodyRest, r.instanceId, r.version), changes ?? []), 'utf8'),
  }));
}

/** A row's `bodyRest`, present when it has no `body`. */
function restOf(rest: string | null, instanceId: string, version: number): string {
  if (rest === null) throw new DecodeError(`stored event ${instanceId}:${version}`, 'it has neither body nor bodyRest');
  return rest;
}

/** The newest snapshot of an agent matching every bound (`MongoStore.findSnapshot`), from FerretDB's `state_snapshots` table. */
export async function ferretdbSnapshotRow(pool: pg.Pool, table: string, instanceId: string, q: SnapshotQuery): Promise<SnapshotDoc | undefined> {
  const w = new Where();
  w.terms.push(`_jsonb -> 'instanceId' = to_jsonb(${w.param(instanceId)}::text)`);
  if (q.atOrBeforeVersion !== undefined) w.terms.push(`_jsonb -> 'version' <= to_jsonb(${w.param(q.atOrBeforeVersion)}::float8)`);
  if (q.atOrBeforeTime !== undefined) w.terms.push(`_jsonb -> 'timestamp' <= to_jsonb(${w.param(q.atOrBeforeTime)}::float8)`);
  if (q.types !== undefined) w.terms.push(`_jsonb ->> 'snapshotType' = ANY (${w.param(q.types)}::text[])`);
  const sql = `SELECT _jsonb AS d FROM ${table} ${w.toString()} ORDER BY _jsonb -> 'version' DESC LIMIT 1`;
  const row = (await pool.query<{ d: Record<string, unknown> }>(sql, w.params)).rows[0];
  return row ? (documentOfFerretdbRow(row.d) as SnapshotDoc) : undefined;
}
