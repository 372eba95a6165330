import { MongoStore } from '../../../src/store/mongo/index.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { storeContract } from './suite.js';

storeContract(
  'MongoStore',
  async () => {
    const database = uniqueName('store').replace(/-/g, '_');
    const store = await MongoStore.connect({ uri: stackEnv().mongodbUri, database });
    return {
      store,
      cleanup: async () => {
        const admin = await MongoStore.connect({ uri: stackEnv().mongodbUri, database });
        await admin.connection.db.dropDatabase().catch(() => undefined);
        await admin.close();
      },
    };
  },
  [
    { field: 'concurrency', open: () => MongoStore.connect({ uri: stackEnv().mongodbUri, concurrency: 0 }) },
    { field: 'database', open: () => MongoStore.connect({ uri: stackEnv().mongodbUri, database: 'no/slash' }) },
    { field: 'uri', open: () => MongoStore.connect({}) },
  ],
);
