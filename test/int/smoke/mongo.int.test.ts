import { MongoServerError } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoConnection, MongoStore } from '../../../src/store/mongo/index.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { eventRow, stateRow } from '../../contract/store/suite.js';

/**
 * `op`, or a rejection once `ms` have passed: a write pattern that hangs the
 * server (FerretDB 1.24 on PostgreSQL never finished an unordered bulkWrite of
 * 300 updates) fails here in seconds instead of timing out CI.
 */
async function within<T>(ms: number, what: string, op: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms (a hanging write pattern?)`)), ms);
  });
  try {
    return await Promise.race([op, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Far above what either FerretDB backend needs here (PostgreSQL ~2 s, SQLite ~5 s on a loaded 2-core box). */
const DEADLINE_MS = 45_000;
const AGENTS = 300;

interface Doc {
  _id: string;
  version: number;
  status: string;
}

describe('MongoDB-wire database', () => {
  let conn: MongoConnection;

  beforeAll(async () => {
    conn = await MongoConnection.connect({ uri: stackEnv().mongodbUri, database: uniqueName('smoke').replace(/-/g, '_') });
  });
  afterAll(async () => {
    // Bounded: after a hanging write the server may not answer at all.
    await within(10_000, 'dropDatabase', conn.db.dropDatabase()).catch(() => undefined);
    await conn.close();
    await conn.close();
  });

  it('applies a bulkWrite of version-guarded upserts, skipping stale versions', async () => {
    const states = conn.db.collection<Doc>('agent_states');
    const upsert = (id: string, version: number, status: string) => ({
      updateOne: {
        filter: { _id: id, version: { $lt: version } },
        update: { $set: { version, status } },
        upsert: true,
      },
    });
    const first = await states.bulkWrite([upsert('a', 1, 'idle'), upsert('b', 1, 'idle')], { ordered: false });
    expect(first.upsertedCount).toBe(2);
    await states.bulkWrite([upsert('a', 2, 'running')], { ordered: false });
    // A replayed older version must not move the document back; with the
    // guard it fails the filter and the upsert hits the _id unique index.
    await expect(states.bulkWrite([upsert('a', 1, 'idle')], { ordered: false })).rejects.toThrow(/duplicate key|E11000/);
    expect(await states.findOne({ _id: 'a' })).toEqual({ _id: 'a', version: 2, status: 'running' });
    expect(await states.countDocuments()).toBe(2);
  });

  it('enforces a unique index', async () => {
    const events = conn.db.collection('state_events');
    await events.createIndex({ instanceId: 1, version: 1 }, { unique: true, name: 'instance_version' });
    await events.insertOne({ instanceId: 'a', version: 1 });
    const err = await events.insertOne({ instanceId: 'a', version: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoServerError);
    expect((err as MongoServerError).code).toBe(11000);
    const indexes = await events.indexes();
    expect(indexes.find((i) => i.name === 'instance_version')?.unique).toBe(true);
  });

  it('findOneAndUpdate returns the updated document', async () => {
    const leases = conn.db.collection<{ _id: string; epoch: number }>('leases');
    await leases.insertOne({ _id: 'x', epoch: 1 });
    const after = await leases.findOneAndUpdate({ _id: 'x' }, { $inc: { epoch: 1 } }, { returnDocument: 'after' });
    expect(after?.epoch).toBe(2);
  });

  it('runs guarded single updates, 16 at a time, within a deadline, and still answers after', async () => {
    const states = conn.db.collection<Doc>('guarded_updates');
    const ids = Array.from({ length: AGENTS }, (_, i) => `agent-${i}`);
    await within(DEADLINE_MS, 'insertMany', states.insertMany(ids.map((_id) => ({ _id, version: 1, status: 'idle' }))));
    let next = 0;
    const update = (id: string, version: number) => states.updateOne({ _id: id, version: { $lt: version } }, { $set: { version, status: 'running' } });
    await within(
      DEADLINE_MS,
      `${AGENTS} guarded updateOne, 16 at a time`,
      Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < ids.length) expect((await update(ids[next++]!, 2)).modifiedCount).toBe(1);
        }),
      ),
    );
    expect((await update(ids[0]!, 1)).modifiedCount).toBe(0);
    expect(await states.countDocuments({ version: 2, status: 'running' })).toBe(AGENTS);
    expect(await within(5000, 'ping', conn.db.command({ ping: 1 }))).toMatchObject({ ok: 1 });
  });

  it("runs the store's insert batches (states and events, then newer states and a redelivery) within a deadline", async () => {
    // Its own database: the store's unique indexes must not meet the rows above.
    const database = `${conn.db.databaseName}_store`;
    const store = await MongoStore.connect({ uri: stackEnv().mongodbUri, database });
    try {
      await within(DEADLINE_MS, 'store setup', store.setup());
      const ids = Array.from({ length: AGENTS }, (_, i) => `batch-${i}`);
      const first = await within(DEADLINE_MS, `writeBatch of ${AGENTS} states and events`, store.writeBatch({ states: ids.map((id) => stateRow(id, 1)), events: ids.map((id) => eventRow(id, 1)) }));
      expect(first).toEqual({ statesWritten: AGENTS, statesSkipped: 0, eventsInserted: AGENTS, eventsExisting: 0 });
      // The next batch moves every agent on (insert, then delete of the older
      // rows) and carries a redelivered copy of the first batch's events.
      const second = await within(
        DEADLINE_MS,
        `writeBatch of ${AGENTS} newer states with redelivered events`,
        store.writeBatch({
          states: ids.map((id) => stateRow(id, 2)),
          events: [...ids.map((id) => eventRow(id, 1)), ...ids.map((id) => eventRow(id, 2))],
        }),
      );
      expect(second).toEqual({ statesWritten: AGENTS, statesSkipped: 0, eventsInserted: AGENTS, eventsExisting: AGENTS });
      const heads = await within(DEADLINE_MS, 'getStates', store.getStates(ids));
      expect([...heads.values()].every((s) => s.version === 2)).toBe(true);
      expect(heads.size).toBe(AGENTS);
      expect(await within(5000, 'ping', conn.db.command({ ping: 1 }))).toMatchObject({ ok: 1 });
    } finally {
      await within(10_000, 'dropDatabase', store.connection.db.dropDatabase()).catch(() => undefined);
      await store.close();
    }
  });
});
