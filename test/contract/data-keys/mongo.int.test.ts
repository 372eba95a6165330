import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoConnection, MongoDataKeyStore } from '../../../src/store/mongo/index.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { dataKey, dataKeyContract } from './suite.js';

const connect = (database: string): Promise<MongoConnection> => MongoConnection.connect({ uri: stackEnv().mongodbUri, database });
const databaseName = (): string => uniqueName('data-keys').replace(/-/g, '_');

// A database of its own per storage, dropped after; each open() is a new
// client, as a restarted process would have.
dataKeyContract(
  'MongoDataKeyStore',
  async () => {
    const database = databaseName();
    return {
      open: async () => {
        const connection = await connect(database);
        return { store: new MongoDataKeyStore(connection), close: () => connection.close() };
      },
      cleanup: async () => {
        const admin = await connect(database);
        await admin.db.dropDatabase().catch(() => undefined);
        await admin.close();
      },
    };
  },
  { durable: true },
);

// What the port cannot see: the bytes left in the collection, and a shred
// interrupted between its two writes.
describe('MongoDataKeyStore documents', () => {
  let connection: MongoConnection;
  let store: MongoDataKeyStore;
  beforeAll(async () => {
    connection = await connect(databaseName());
    store = new MongoDataKeyStore(connection);
    await store.setup();
  });
  afterAll(async () => {
    await connection.db.dropDatabase().catch(() => undefined);
    await connection.close();
  });

  it('keeps no wrapped bytes of a destroyed key, even after a re-wrap raced the shred', async () => {
    const base = uniqueName('scrub');
    for (let i = 0; i < 20; i++) {
      const key = dataKey(`${base}-${i}`, 1);
      await store.create(key);
      await Promise.all([store.rewrap(key.keyId, 'mk-1', 'mk-2', randomBytes(60)), store.destroy(key.keyId, 5)]);
      const raw = await connection.db.collection('data_keys').findOne({ _id: key.keyId as never });
      expect(raw?.wrapped).toBeNull();
    }
  });

  it('a shred interrupted after its decisive insert reads as destroyed, and the next destroy scrubs the bytes', async () => {
    const key = dataKey(uniqueName('crash'), 1);
    await store.create(key);
    await connection.db.collection('data_key_shreds').insertOne({ _id: key.keyId as never, instanceId: key.instanceId, destroyedAt: 7 });
    expect(await store.get(key.keyId)).toEqual({ ...key, wrapped: null, destroyedAt: 7 });
    expect(await store.listForInstance(key.instanceId)).toEqual([{ ...key, wrapped: null, destroyedAt: 7 }]);
    expect(await store.rewrap(key.keyId, 'mk-1', 'mk-2', randomBytes(60))).toBe(false);
    expect((await connection.db.collection('data_keys').findOne({ _id: key.keyId as never }))?.wrapped).toBeNull(); // the re-wrap scrubbed
    expect(await store.destroy(key.keyId, 9)).toBe(false);
    expect(await store.get(key.keyId)).toEqual({ ...key, wrapped: null, destroyedAt: 7 });
  });
});
