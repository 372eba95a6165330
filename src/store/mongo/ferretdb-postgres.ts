import pg from 'pg';
import { UnavailableError } from '../../errors.js';

/** A field filtered by equality, per collection: the containment indexes FerretDB's pushdown can use. */
export const CONTAINMENT_INDEXES: ReadonlyArray<{ collection: string; field: string }> = [
  { collection: 'agent_states', field: '_id' },
  { collection: 'state_events', field: 'instanceId' },
  { collection: 'state_snapshots', field: 'instanceId' },
];

/**
 * Makes FerretDB 1.x on PostgreSQL answer reads by agent from an index.
 *
 * FerretDB 1.24 pushes an equality filter down as `_jsonb->'f' @> value`
 * (JSON containment), but the indexes it creates are B-trees on
 * `_jsonb->'f'`, which PostgreSQL cannot use for `@>`: every `findOne({_id})`
 * and every `find({instanceId})` was a sequential scan, 374 ms at 10,000
 * agents on a loaded machine (issue 11; `npm run bench -- read` prints the
 * plans). A GIN `jsonb_path_ops` index on the same expression serves `@>`
 * (0.3 ms there). They are created beside FerretDB's own, on the table
 * FerretDB keeps for each collection (its `_ferretdb_database_metadata`
 * maps collection to table); idempotent.
 *
 * `postgresUrl` is the PostgreSQL database FerretDB stores into (the
 * `-postgresql-url` it was started with). Collections that do not exist yet
 * are skipped: call after the MongoDB indexes are created.
 * @throws AgentStateError AS_UNAVAILABLE when PostgreSQL cannot be reached or refuses
 */
export async function ensureContainmentIndexes(postgresUrl: string, database: string): Promise<number> {
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    // FerretDB 1.x: one schema per database, named as the database.
    const schema = pg.escapeIdentifier(database);
    let created = 0;
    for (const { collection, field } of CONTAINMENT_INDEXES) {
      const r = await client.query<{ table: string }>(`SELECT _jsonb->>'table' AS table FROM ${schema}._ferretdb_database_metadata WHERE _jsonb->>'_id' = $1`, [collection]);
      const table = r.rows[0]?.table;
      if (table === undefined) continue;
      const name = pg.escapeIdentifier(`${table}_${field.replace(/[^a-z]/gi, '')}_contains`);
      await client.query(`CREATE INDEX IF NOT EXISTS ${name} ON ${schema}.${pg.escapeIdentifier(table)} USING gin ((_jsonb -> ${pg.escapeLiteral(field)}) jsonb_path_ops)`);
      created++;
    }
    return created;
  } catch (err) {
    throw new UnavailableError(`PostgreSQL under FerretDB (containment indexes: ${(err as Error).message})`, { cause: err });
  } finally {
    await client.end().catch(() => undefined);
  }
}
