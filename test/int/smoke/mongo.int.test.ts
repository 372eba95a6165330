import { MongoServerError } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoConnection } from '../../../src/store/mongo/index.js';
import { stackEnv, uniqueName } from '../../support/env.js';

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
    await conn.db.dropDatabase().catch(() => undefined);
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
});
