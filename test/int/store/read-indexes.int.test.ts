import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoStore } from '../../../src/store/mongo/index.js';
import { eventRow, stateRow } from '../../contract/store/suite.js';
import { stackEnv, uniqueName } from '../../support/env.js';

/**
 * Reads by agent (`findOne({_id})` on agent_states, `find({instanceId})` on
 * state_events) are served by an index, never a scan of the collection
 * (issue 11: 374 ms at 10,000 agents when they scanned). On FerretDB over
 * PostgreSQL that takes the containment indexes `setup()` adds; on MongoDB
 * its own indexes.
 */
describe('MongoStore: reads by agent use an index; FerretDB/PostgreSQL tables compress with lz4', () => {
  const env = stackEnv();
  const database = uniqueName('read_idx').replace(/[^A-Za-z0-9_]/g, '_');
  let store: MongoStore;

  beforeAll(async () => {
    store = await MongoStore.connect({ uri: env.mongodbUri, database, ...(env.ferretdbPostgresUrl ? { ferretdbPostgresUrl: env.ferretdbPostgresUrl } : {}) });
    await store.setup();
    // Twice: the indexes are created if absent, so a restarted service's setup() is harmless.
    await store.setup();
    await store.writeBatch({ states: [stateRow('agent-a', 2), stateRow('agent-b', 1)], events: [eventRow('agent-a', 1), eventRow('agent-a', 2), eventRow('agent-b', 1)] });
  });
  afterAll(async () => {
    await store.connection.db.dropDatabase().catch(() => undefined);
    await store.close();
  });

  it('plans an index for an agent state and an agent history', async () => {
    expect((await store.getState('agent-a'))?.version).toBe(2);
    expect((await store.queryEvents({ instanceId: 'agent-a' })).map((e) => e.version)).toEqual([1, 2]);
    // Several agents (single reads on FerretDB/PostgreSQL, `$in` elsewhere); a missing one is absent.
    const many = await store.getStates(['agent-a', 'agent-b', 'agent-missing']);
    expect([...many.keys()].sort()).toEqual(['agent-a', 'agent-b']);
    const url = env.ferretdbPostgresUrl;
    if (url === undefined) {
      // Real MongoDB: its query planner's winning plans.
      const plan = async (coll: string, filter: object): Promise<string> => JSON.stringify(await store.connection.db.command({ explain: { find: coll, filter }, verbosity: 'queryPlanner' }));
      expect(await plan('agent_states', { _id: 'agent-a' })).toMatch(/IDHACK|EXPRESS|IXSCAN/);
      expect(await plan('state_events', { instanceId: 'agent-a' })).toMatch(/IXSCAN/);
      return;
    }
    // FerretDB on PostgreSQL: the SQL FerretDB runs for these filters (JSON containment),
    // planned with sequential scans priced out, must find our index: a tiny table would
    // otherwise be scanned whatever the indexes.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('SET enable_seqscan = off');
      const schema = pg.escapeIdentifier(database);
      const plan = async (coll: string, field: string, value: string): Promise<string> => {
        const t = await client.query<{ table: string }>(`SELECT _jsonb->>'table' AS table FROM ${schema}._ferretdb_database_metadata WHERE _jsonb->>'_id' = $1`, [coll]);
        const table = pg.escapeIdentifier(t.rows[0]!.table);
        const r = await client.query(`EXPLAIN (FORMAT JSON) SELECT _jsonb FROM ${schema}.${table} WHERE _jsonb->${pg.escapeLiteral(field)} @> $1`, [JSON.stringify(value)]);
        return JSON.stringify(r.rows);
      };
      expect(await plan('agent_states', '_id', 'agent-a')).toMatch(/_id_contains/);
      expect(await plan('state_events', 'instanceId', 'agent-a')).toMatch(/instanceId_contains/);
      expect(await plan('state_snapshots', 'instanceId', 'agent-a')).toMatch(/instanceId_contains/);
      // Documents are compressed with lz4, not pglz (half of PostgreSQL's CPU on the event mirror, issue 11).
      const compression = await client.query<{ coll: string; c: string }>(
        `SELECT m._jsonb->>'_id' AS coll, a.attcompression AS c FROM ${schema}._ferretdb_database_metadata m
           JOIN pg_attribute a ON a.attrelid = (quote_ident(${pg.escapeLiteral(database)}) || '.' || quote_ident(m._jsonb->>'table'))::regclass AND a.attname = '_jsonb'
          WHERE m._jsonb->>'_id' IN ('agent_states', 'state_events', 'state_snapshots') ORDER BY 1`,
      );
      expect(compression.rows).toEqual([
        { coll: 'agent_states', c: 'l' },
        { coll: 'state_events', c: 'l' },
        { coll: 'state_snapshots', c: 'l' },
      ]);
    } finally {
      await client.end();
    }
  });
});
