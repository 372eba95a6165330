import { MongoStore } from '../../../src/store/mongo/index.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { storeContract } from './suite.js';

const dropper = (database: string) => async () => {
  const admin = await MongoStore.connect({ uri: stackEnv().mongodbUri, database });
  await admin.connection.db.dropDatabase().catch(() => undefined);
  await admin.close();
};

storeContract(
  'MongoStore',
  async () => {
    const database = uniqueName('store').replace(/-/g, '_');
    const store = await MongoStore.connect({ uri: stackEnv().mongodbUri, database });
    return { store, cleanup: dropper(database) };
  },
  [
    { field: 'concurrency', open: () => MongoStore.connect({ uri: stackEnv().mongodbUri, concurrency: 0 }) },
    { field: 'database', open: () => MongoStore.connect({ uri: stackEnv().mongodbUri, database: 'no/slash' }) },
    { field: 'uri', open: () => MongoStore.connect({}) },
  ],
);

// FerretDB on PostgreSQL, as the services run it: tuned tables, counts read from PostgreSQL.
const postgres = stackEnv().ferretdbPostgresUrl;
if (postgres !== undefined) {
  storeContract('MongoStore on FerretDB/PostgreSQL with ferretdbPostgresUrl', async () => {
    const database = uniqueName('store_pg').replace(/-/g, '_');
    const store = await MongoStore.connect({ uri: stackEnv().mongodbUri, database, ferretdbPostgresUrl: postgres });
    return { store, cleanup: dropper(database) };
  });
}
