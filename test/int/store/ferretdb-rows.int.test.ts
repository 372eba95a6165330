import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Binary } from 'mongodb';
import { canonicalJson, epoch, instanceId as asInstanceId, version as asVersion, type JsonObject, type StateEvent } from '../../../src/domain/index.js';
import { splitEventBody } from '../../../src/store/event-body.js';
import { storedEvent } from '../../../src/store/stored-event.js';
import { ferretdbTable, probeFerretdbRows } from '../../../src/store/mongo/ferretdb-rows.js';
import { MongoStore } from '../../../src/store/mongo/index.js';
import type { StoredEvent } from '../../../src/store/port.js';
import type { StateFields } from '../../../src/store/state-fields.js';
import { eventRow, stateRow } from '../../contract/store/suite.js';
import { stackEnv, uniqueName } from '../../support/env.js';

/** Events whose query view holds every kind of value the mirror writes: escaped keys, wrapped arrays, sanitised strings, numbers of both BSON types. */
function events(instanceId: string): StoredEvent[] {
  const metadata = JSON.parse(
    '{"$op":"x","a.b":{"c":[[1,2],[]]},"n":[0,-1,2147483648,0.1,1e300,-2.5],"s":"é\\u2028\\"\\\\ 😀 \\u0000 \\ud800","empty":{},"none":[],"t":true,"f":false,"z":null,"10":"numeric key"}',
  ) as JsonObject;
  return Array.from({ length: 30 }, (_, i) => {
    const e = eventRow(instanceId, i + 1, i % 2 === 0 ? 'memory_updated' : 'state_patched');
    const changeset = [
      { path: '/memory/conversation/-', op: 'create', newValue: { id: `m${i}`, content: 'a "quoted" line\nand\ttabs', n: i } },
      { path: '/status', op: 'update', oldValue: 'idle', newValue: i % 3 === 0 ? null : 'running' },
      { path: '/memory/conversation/0', op: 'delete', oldValue: [1, 'two', { three: 3 }] },
    ];
    const parsed = {
      eventId: e.eventId,
      instanceId,
      version: e.version,
      eventType: e.eventType,
      source: 'rows-test',
      causationId: i === 0 ? null : `c-${i}`,
      correlationId: null,
      changeset,
      metadata,
      replayable: i !== 4,
    };
    // The body stays eventRow's (no agent id in it), so two agents' rows differ only where their ids are.
    return { ...e, parsed: parsed as unknown as JsonObject };
  });
}

/** Real events (their body is their canonical JSON), as the projector hands them to the store: with the body's parts when `withParts`. */
function realEvents(id: string, withParts: boolean): StoredEvent[] {
  return Array.from({ length: 12 }, (_, i) => {
    const v = i + 1;
    const event: StateEvent = {
      eventId: `${id}-e${v}`,
      instanceId: asInstanceId(id),
      version: asVersion(v),
      writerEpoch: epoch(1),
      timestamp: 1_760_000_000_000 + v,
      eventType: 'memory_updated',
      source: 'rows-test',
      causationId: v % 2 ? null : '"changeset":[]',
      correlationId: null,
      changeset: [
        { path: '/memory/conversation/-', op: 'create', newValue: { id: `m${v}`, content: 'a "quoted" line\nand\ttabs é 😀 \u0000 \ud800', 10: 'integer key', n: v * 1e21 } },
        { path: '/status', op: 'update', oldValue: 'idle', newValue: v % 3 === 0 ? null : 'running' },
        { path: '/memory/conversation/0', op: 'delete', oldValue: [1, 'two', { three: -0 }] },
        // A before-image the writer left out: its size only (int32 and above).
        { path: '/memory/big', op: 'delete', oldBytes: v % 2 ? 1032 : 3_000_000_000 + v },
      ],
      metadata: { 'a.b': 'x', $op: '"changeset":[]' },
      stateChecksum: 'c'.repeat(64),
      replay: null,
      replayable: v !== 4,
    };
    const body = Buffer.from(canonicalJson(event), 'utf8');
    const parts = withParts ? splitEventBody(event) : undefined;
    return storedEvent(event, { partition: 1, offset: String(100 + v) }, body, { parsed: event as unknown as JsonObject, ...(parts ? { parts } : {}) });
  });
}

const url = stackEnv().ferretdbPostgresUrl;
// FerretDB on PostgreSQL only (the dev stack's default): elsewhere there is no table to write.
if (url !== undefined) {
  describe('MongoStore on FerretDB/PostgreSQL: event rows written to PostgreSQL directly', () => {
    const env = stackEnv();
    const database = uniqueName('rows').replace(/[^A-Za-z0-9_]/g, '_');
    let direct: MongoStore;
    let viaFerretdb: MongoStore;
    let pool: pg.Pool;

    beforeAll(async () => {
      direct = await MongoStore.connect({ uri: env.mongodbUri, database, ferretdbPostgresUrl: url });
      await direct.setup();
      // The same database through FerretDB's insert commands, into a second agent's rows.
      viaFerretdb = await MongoStore.connect({ uri: env.mongodbUri, database, ferretdbPostgresUrl: url, directInserts: false });
      pool = new pg.Pool({ connectionString: url, max: 2 });
    });
    afterAll(async () => {
      await direct.connection.db.dropDatabase().catch(() => undefined);
      await direct.close();
      await viaFerretdb.close();
      await pool.end();
    });

    it('probes that this FerretDB stores documents exactly as they are encoded, and leaves no probe behind', async () => {
      expect(await probeFerretdbRows(pool, database, direct.connection.db.collection('store_meta'))).toBe(true);
      expect(await direct.eventInsertPath()).toBe('postgres');
      expect(await viaFerretdb.eventInsertPath()).toBe('ferretdb');
      expect(await direct.connection.db.collection('store_meta').countDocuments({ _id: { $regex: '^agentstate-row-probe' } } as object)).toBe(0);
    });

    it('stores the same jsonb as FerretDB does, reads back the same documents and events through the driver', async () => {
      const mine = events('rows-direct');
      const theirs = events('rows-ferret');
      expect(await direct.writeBatch({ states: [], events: mine })).toMatchObject({ eventsInserted: 30, eventsExisting: 0 });
      expect(await viaFerretdb.writeBatch({ states: [], events: theirs })).toMatchObject({ eventsInserted: 30, eventsExisting: 0 });

      // Row by row in PostgreSQL: equal once the agent's id (in _id, instanceId, eventId) is the same.
      const table = await ferretdbTable(pool, database, 'state_events');
      const rows = await pool.query<{ id: string; doc: string }>(`SELECT _jsonb->>'_id' AS id, _jsonb::text AS doc FROM ${table!} WHERE _jsonb->>'instanceId' IN ('rows-direct', 'rows-ferret')`);
      const byId = new Map(rows.rows.map((r) => [r.id, r.doc]));
      for (let v = 1; v <= 30; v++) {
        const ours = byId.get(`rows-direct:${v}`);
        const ferret = byId.get(`rows-ferret:${v}`);
        expect(ours).toBeDefined();
        expect(ours!.replaceAll('rows-direct', 'rows-ferret')).toBe(ferret);
      }

      // Through the MongoDB driver: the same documents, field order included.
      const coll = direct.connection.db.collection('state_events');
      const a = await coll.find({ instanceId: 'rows-direct' }).sort({ version: 1 }).toArray();
      const b = await coll.find({ instanceId: 'rows-ferret' }).sort({ version: 1 }).toArray();
      expect(a).toHaveLength(30);
      expect(JSON.stringify(a).replaceAll('rows-direct', 'rows-ferret')).toBe(JSON.stringify(b));
      // And through the store: the exact bodies and positions that were written.
      const read = await direct.queryEvents({ instanceId: 'rows-direct' });
      expect(read).toEqual(mine.map(({ parsed: _, ...e }) => e));
      // Queries on the view: an index-served agent filter plus a changeset field.
      expect(await coll.countDocuments({ instanceId: 'rows-direct', 'eventData.changeset.field': '/status' })).toBe(30);
    });

    it('inserts only what is absent: a redelivered, overlapping batch adds nothing and reports what existed', async () => {
      const rows = events('rows-again');
      await direct.writeBatch({ states: [], events: [rows[3]!, rows[10]!] });
      expect(await direct.writeBatch({ states: [], events: rows })).toMatchObject({ eventsInserted: 28, eventsExisting: 2 });
      // Both paths see the rows of the other: neither duplicates them.
      expect(await viaFerretdb.writeBatch({ states: [], events: rows.slice(0, 5) })).toMatchObject({ eventsInserted: 0, eventsExisting: 5 });
      expect(await direct.writeBatch({ states: [], events: rows })).toMatchObject({ eventsInserted: 0, eventsExisting: 30 });
      expect((await direct.queryEvents({ instanceId: 'rows-again' })).map((e) => e.version)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      expect((await direct.counts()).events).toBe(90);
    });

    it('keeps the changeset of an event once (bodyRest beside the query view), reads back the exact body, and still reads rows holding the whole body', async () => {
      // The projector's path (parts handed over), another writer's (split from the body and checked), and FerretDB's inserts.
      const projected = realEvents('lean-direct', true);
      expect(await direct.writeBatch({ states: [], events: projected })).toMatchObject({ eventsInserted: 12 });
      expect(await direct.writeBatch({ states: [], events: realEvents('lean-split', false) })).toMatchObject({ eventsInserted: 12 });
      expect(await viaFerretdb.writeBatch({ states: [], events: realEvents('lean-ferret', true) })).toMatchObject({ eventsInserted: 12 });
      const table = await ferretdbTable(pool, database, 'state_events');
      const rows = await pool.query<{ id: string; doc: string }>(`SELECT _jsonb->>'_id' AS id, _jsonb::text AS doc FROM ${table!} WHERE _jsonb->>'instanceId' LIKE 'lean-%'`);
      const byId = new Map(rows.rows.map((r) => [r.id, r.doc]));
      for (let v = 1; v <= 12; v++) {
        const ours = byId.get(`lean-direct:${v}`)!;
        expect(ours.replaceAll('lean-direct', 'lean-ferret')).toBe(byId.get(`lean-ferret:${v}`));
        expect(ours.replaceAll('lean-direct', 'lean-split')).toBe(byId.get(`lean-split:${v}`));
        const doc = JSON.parse(ours) as Record<string, unknown>;
        expect(doc.body).toBeUndefined();
        expect(typeof doc.bodyRest).toBe('string');
      }
      const coll = direct.connection.db.collection('state_events');
      // A row as written before (the whole body as Binary, no bodyRest), for the same agent.
      const old = realEvents('lean-direct', true)[0]!;
      const oldDoc = { ...(await coll.findOne({ _id: 'lean-direct:1' } as object))!, _id: 'lean-direct:13', version: 13, sequenceNumber: 13, body: new Binary(Buffer.from('{"old":"row"}')) };
      delete (oldDoc as { bodyRest?: unknown }).bodyRest;
      await coll.insertOne(oldDoc as never);
      const read = await direct.queryEvents({ instanceId: 'lean-direct' });
      expect(read.slice(0, 12)).toEqual(projected.map(({ parsed: _, parts: __, ...e }) => e));
      expect(read.slice(0, 12).map((e) => e.body.toString('utf8'))).toEqual(projected.map((e) => canonicalJson(e.parsed)));
      expect(read[12]).toMatchObject({ version: 13, eventId: old.eventId, body: Buffer.from('{"old":"row"}') });
      // The same through FerretDB's find (without the direct reads from PostgreSQL).
      const viaFind = await MongoStore.connect({ uri: env.mongodbUri, database, ferretdbPostgresUrl: url, directReads: false });
      try {
        expect(await viaFind.eventReadPath()).toBe('ferretdb');
        expect(await viaFind.queryEvents({ instanceId: 'lean-direct' })).toEqual(read);
      } finally {
        await viaFind.close();
      }
      for (const agent of ['lean-split', 'lean-ferret']) {
        expect((await direct.queryEvents({ instanceId: agent })).map((e) => e.body.toString('utf8'))).toEqual(realEvents(agent, false).map((e) => e.body.toString('utf8')));
      }
      // The query view is unchanged: the changes' values as canonical JSON text (8 of the 12 events, and the old-form copy of version 1).
      expect(await coll.countDocuments({ instanceId: 'lean-direct', 'eventData.changeset.newValue': '"running"' })).toBe(9);
    });

    it('writes state rows with the version guard: the same documents as FerretDB, an older or equal version never replaces a newer one', async () => {
      const fields = { status: 'running', agentType: 'worker', capabilities: ['chat', 'code'], performance: { errorRate: 0.25, big: 2 ** 40 }, configuration: { 'a.b': { $x: [[1], []] } } };
      // One body for every agent (stateRow's names the agent), so two agents' documents differ only in their ids.
      const row = (id: string, v: number) => stateRow(id, v, { fields: fields as unknown as StateFields, body: Buffer.from('{"same":"body"}') });
      expect(await direct.writeBatch({ states: [row('st-direct', 2), row('st-direct-b', 1)], events: [] })).toMatchObject({ statesWritten: 2, statesSkipped: 0 });
      expect(await viaFerretdb.writeBatch({ states: [row('st-ferret', 2)], events: [] })).toMatchObject({ statesWritten: 1 });
      const coll = direct.connection.db.collection('agent_states');
      const a = await coll.findOne({ _id: 'st-direct' } as object);
      const b = await coll.findOne({ _id: 'st-ferret' } as object);
      expect(JSON.stringify(a).replaceAll('st-direct', 'st-ferret')).toBe(JSON.stringify(b));
      expect(await direct.getState('st-direct')).toEqual(row('st-direct', 2));
      // Older and equal versions are skipped, a newer one replaces, in one batch.
      expect(await direct.writeBatch({ states: [row('st-direct', 1), row('st-direct-b', 1)], events: [] })).toMatchObject({ statesWritten: 0, statesSkipped: 2 });
      expect(await direct.writeBatch({ states: [row('st-direct', 3), row('st-direct-b', 1)], events: [] })).toMatchObject({ statesWritten: 1, statesSkipped: 1 });
      expect((await direct.getState('st-direct'))?.version).toBe(3);
    });

    it('sets up one fresh database from several processes at once (projectors starting together)', async () => {
      const fresh = uniqueName('rows_setup').replace(/[^A-Za-z0-9_]/g, '_');
      const stores = await Promise.all([1, 2, 3].map(() => MongoStore.connect({ uri: env.mongodbUri, database: fresh, ferretdbPostgresUrl: url })));
      try {
        // Before the tuning took one lock per database, two of these failed on CREATE INDEX IF NOT EXISTS racing in PostgreSQL.
        await Promise.all(stores.map((s) => s.setup()));
        expect(await Promise.all(stores.map((s) => s.eventInsertPath()))).toEqual(['postgres', 'postgres', 'postgres']);
      } finally {
        await stores[0]!.connection.db.dropDatabase().catch(() => undefined);
        await Promise.all(stores.map((s) => s.close()));
      }
    });

    it('recovers when the collection is dropped under it: the write fails as retryable, the retry recreates it through FerretDB', async () => {
      const rows = events('rows-dropped');
      await direct.writeBatch({ states: [], events: rows.slice(0, 2) });
      await viaFerretdb.connection.db.collection('state_events').drop();
      const failed = await direct.writeBatch({ states: [], events: rows }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(failed).toMatchObject({ code: 'AS_UNAVAILABLE', retryable: true });
      // The retry finds no table and inserts through FerretDB, which creates the collection; later writes use the new table.
      expect(await direct.writeBatch({ states: [], events: rows.slice(0, 10) })).toMatchObject({ eventsInserted: 10 });
      expect(await direct.writeBatch({ states: [], events: rows })).toMatchObject({ eventsInserted: 20, eventsExisting: 10 });
      expect((await direct.queryEvents({ instanceId: 'rows-dropped' })).map((e) => e.version)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    });
  });
}
