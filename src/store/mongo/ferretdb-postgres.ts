import pg from 'pg';
import { UnavailableError } from '../../errors.js';
import type { CheckedFilter } from '../query.js';
import type { SUMMARY_PROJECTION, StateDoc } from './documents.js';

/** A field filtered by equality, per collection: the containment indexes FerretDB's pushdown can use. */
export const CONTAINMENT_INDEXES: ReadonlyArray<{ collection: string; field: string }> = [
  { collection: 'agent_states', field: '_id' },
  { collection: 'state_events', field: 'instanceId' },
  { collection: 'state_snapshots', field: 'instanceId' },
];

/** The collections whose documents PostgreSQL compresses with lz4 instead of pglz. */
export const LZ4_COLLECTIONS: readonly string[] = ['agent_states', 'state_events', 'state_snapshots'];

/** What {@link tuneFerretdbTables} did. */
export interface FerretdbTuning {
  /** Containment indexes present (created now or before). */
  indexes: number;
  /** Tables whose documents are compressed with lz4 (set now or before). */
  lz4Tables: number;
  /** Set when this PostgreSQL cannot compress with lz4 (built without it): documents stay on pglz. */
  lz4Unsupported?: string;
}

/**
 * Tunes the PostgreSQL tables under FerretDB 1.x for the store's reads and
 * writes. FerretDB keeps each collection as a table of one `_jsonb` column
 * (its `_ferretdb_database_metadata` maps collection to table); this adds
 * what FerretDB does not, beside its own objects, idempotently:
 *
 * - **Containment indexes.** FerretDB 1.24 pushes an equality filter down as
 *   `_jsonb->'f' @> value` (JSON containment), but the indexes it creates are
 *   B-trees on `_jsonb->'f'`, which PostgreSQL cannot use for `@>`: every
 *   `findOne({_id})` and every `find({instanceId})` was a sequential scan,
 *   374 ms at 10,000 agents on a loaded machine (issue 11; `npm run bench --
 *   read` prints the plans). A GIN `jsonb_path_ops` index on the same
 *   expression serves `@>` (0.3 ms there).
 * - **lz4 compression of documents** (PostgreSQL 14+, `ALTER COLUMN _jsonb
 *   SET COMPRESSION lz4`; new rows only). Documents over ~2 KB are
 *   compressed by PostgreSQL (TOAST), with pglz by default, and pglz was half
 *   of PostgreSQL's CPU on the projector's event mirror: 2,000 chat-window
 *   events took 0.89 s of PostgreSQL CPU with pglz, 0.39 s with lz4 (issue
 *   11). A server built without lz4 keeps pglz (`lz4Unsupported` says why).
 *
 * `postgresUrl` is the PostgreSQL database FerretDB stores into (the
 * `-postgresql-url` it was started with). Collections that do not exist yet
 * are skipped: call after the MongoDB indexes are created.
 * @throws AgentStateError AS_UNAVAILABLE when PostgreSQL cannot be reached or refuses
 */
export async function tuneFerretdbTables(postgresUrl: string, database: string): Promise<FerretdbTuning> {
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    // One tuning at a time per database: projectors starting together raced on
    // CREATE INDEX IF NOT EXISTS (PostgreSQL checks existence before taking its
    // locks: "duplicate key value violates unique constraint pg_class_relname_nsp_index").
    // A session lock, released when this client ends.
    await client.query(`SELECT pg_advisory_lock(hashtext($1))`, [`agentstate: tune FerretDB tables of ${database}`]);
    // FerretDB 1.x: one schema per database, named as the database.
    const schema = pg.escapeIdentifier(database);
    const tableOf = async (collection: string): Promise<string | undefined> => {
      const r = await client.query<{ table: string }>(`SELECT _jsonb->>'table' AS table FROM ${schema}._ferretdb_database_metadata WHERE _jsonb->>'_id' = $1`, [collection]);
      return r.rows[0]?.table;
    };
    const tuning: FerretdbTuning = { indexes: 0, lz4Tables: 0 };
    for (const { collection, field } of CONTAINMENT_INDEXES) {
      const table = await tableOf(collection);
      if (table === undefined) continue;
      const name = pg.escapeIdentifier(`${table}_${field.replace(/[^a-z]/gi, '')}_contains`);
      await client.query(`CREATE INDEX IF NOT EXISTS ${name} ON ${schema}.${pg.escapeIdentifier(table)} USING gin ((_jsonb -> ${pg.escapeLiteral(field)}) jsonb_path_ops)`);
      tuning.indexes++;
    }
    for (const collection of LZ4_COLLECTIONS) {
      const table = await tableOf(collection);
      if (table === undefined) continue;
      // Checked first: ALTER TABLE takes an exclusive lock, which projectors starting together would queue on.
      const current = await client.query<{ c: string }>(`SELECT attcompression AS c FROM pg_attribute WHERE attrelid = $1::regclass AND attname = '_jsonb'`, [`${schema}.${pg.escapeIdentifier(table)}`]);
      if (current.rows[0]?.c !== 'l') {
        try {
          await client.query(`ALTER TABLE ${schema}.${pg.escapeIdentifier(table)} ALTER COLUMN _jsonb SET COMPRESSION lz4`);
        } catch (err) {
          // 0A000 feature_not_supported: "compression method lz4 not supported" (built without lz4).
          if ((err as { code?: unknown }).code !== '0A000') throw err;
          tuning.lz4Unsupported = (err as Error).message;
          break;
        }
      }
      tuning.lz4Tables++;
    }
    return tuning;
  } catch (err) {
    throw new UnavailableError(`PostgreSQL under FerretDB (tuning its tables: ${(err as Error).message})`, { cause: err });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The row counts `MongoStore.counts()` reports, read from PostgreSQL. */
export interface FerretdbCounts {
  agents: number;
  events: number;
  snapshots: number;
  maxVersion: number;
}

/**
 * Exact counts of the store's collections, read from FerretDB's tables in
 * PostgreSQL. FerretDB 1.24 answers `countDocuments` by fetching and
 * converting every document (seconds at 100,000 events, issue 11);
 * PostgreSQL's `count(*)` reads only the table's row headers (documents
 * this large live in its TOAST table), and the highest version is one read
 * of FerretDB's own `version` index. A collection that does not exist counts 0.
 * @throws AgentStateError AS_UNAVAILABLE when PostgreSQL cannot be reached or refuses
 */
export async function ferretdbCounts(pool: pg.Pool, database: string): Promise<FerretdbCounts> {
  try {
    const tableOf = await tablesOf(pool, database);
    const count = async (coll: string): Promise<number> => {
      const t = tableOf.get(coll);
      if (t === undefined) return 0;
      return Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${t}`)).rows[0]?.n ?? 0);
    };
    const top = async (): Promise<number> => {
      const t = tableOf.get('agent_states');
      if (t === undefined) return 0;
      // The same expression as FerretDB's `version` index, so PostgreSQL reads its last entry.
      const r = await pool.query<{ v: unknown }>(`SELECT _jsonb -> 'version' AS v FROM ${t} WHERE _jsonb -> 'version' IS NOT NULL ORDER BY _jsonb -> 'version' DESC LIMIT 1`);
      const v = r.rows[0]?.v;
      return typeof v === 'number' ? v : 0;
    };
    const [agents, events, snapshots, maxVersion] = await Promise.all([count('agent_states'), count('state_events'), count('state_snapshots'), top()]);
    return { agents, events, snapshots, maxVersion };
  } catch (err) {
    throw new UnavailableError(`PostgreSQL under FerretDB (counts: ${(err as Error).message})`, { cause: err });
  }
}

/** The qualified PostgreSQL tables of the store's collections that exist, by collection name. */
async function tablesOf(pool: pg.Pool, database: string): Promise<Map<string, string>> {
  const schema = pg.escapeIdentifier(database);
  const tables = await pool
    .query<{ coll: string; table: string }>(
      `SELECT _jsonb->>'_id' AS coll, _jsonb->>'table' AS table FROM ${schema}._ferretdb_database_metadata
      WHERE _jsonb->>'_id' IN ('agent_states', 'state_events', 'state_snapshots')`,
    )
    .catch((err: unknown) => {
      // 42P01 undefined_table: the database has no collection yet.
      if ((err as { code?: unknown }).code === '42P01') return { rows: [] };
      throw err;
    });
  return new Map(tables.rows.map((r) => [r.coll, `${schema}.${pg.escapeIdentifier(r.table)}`]));
}

/** A summary row of `agent_states` as {@link ferretdbQuery} reads it. */
export type SummaryDoc = Pick<StateDoc, keyof typeof SUMMARY_PROJECTION>;

const SUMMARY_COLUMNS = ['_id', 'version', 'epoch', 'checksum', 'agentType', 'status', 'capabilities', 'lastEventType', 'lastModified', 'createdAt'].map((c) => `_jsonb -> ${pg.escapeLiteral(c)} AS "${c}"`).join(', ');

/**
 * Agent summaries (`MongoStore.query`, `agentstate list`, `listAgents`), read
 * from FerretDB's `agent_states` table in PostgreSQL: at most `rows` (all when
 * undefined) in `_id` order after `afterId`, from the unique index on
 * `_jsonb->'_id'`. FerretDB 1.24 pushes neither a sort nor a limit with a
 * filter down: every `find(...).sort({_id: 1}).limit(n)` fetched and converted
 * the whole collection (52-68 s for a page at 10,000 agents of 22 KB states,
 * issue 11). Filters match as MongoDB's equality does on these fields (a
 * string, or an array holding it: JSON containment); string order is the
 * database's collation (byte order under C, as the dev stack initialises it,
 * and as MongoDB sorts).
 * @throws AgentStateError AS_UNAVAILABLE when PostgreSQL cannot be reached or refuses
 */
export async function ferretdbQuery(pool: pg.Pool, database: string, f: Omit<CheckedFilter, 'limit'>, rows: number | undefined): Promise<SummaryDoc[]> {
  try {
    const table = (await tablesOf(pool, database)).get('agent_states');
    if (table === undefined) return [];
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (v: unknown): string => (params.push(v), `$${params.length}`);
    for (const [key, field] of [
      ['status', 'status'],
      ['agentType', 'agentType'],
      ['capability', 'capabilities'],
    ] as const) {
      const v = f[key];
      if (v !== undefined) where.push(`_jsonb -> ${pg.escapeLiteral(field)} @> to_jsonb(${param(v)}::text)`);
    }
    // FerretDB keeps a date as its milliseconds (a JSON number).
    if (f.updatedSince !== undefined) where.push(`_jsonb -> 'lastModified' >= to_jsonb(${param(f.updatedSince)}::bigint)`);
    if (f.afterId !== undefined) where.push(`_jsonb -> '_id' > to_jsonb(${param(f.afterId)}::text)`);
    const limit = rows === undefined ? '' : `LIMIT ${param(rows)}`;
    const sql = `SELECT ${SUMMARY_COLUMNS} FROM ${table} ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY _jsonb -> '_id' ${limit}`;
    const found = (await pool.query<Record<string, unknown>>(sql, params)).rows;
    return found.map((r) => ({ ...r, lastModified: new Date(r.lastModified as number), createdAt: new Date(r.createdAt as number) }) as SummaryDoc);
  } catch (err) {
    throw new UnavailableError(`PostgreSQL under FerretDB (query agent_states: ${(err as Error).message})`, { cause: err });
  }
}
