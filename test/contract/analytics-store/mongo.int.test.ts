import { MongoConnection } from '../../../src/store/mongo/connection.js';
import { MongoAnalyticsStore } from '../../../src/store/mongo/analytics.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { analyticsStoreContract } from './suite.js';

analyticsStoreContract('MongoAnalyticsStore', async () => {
  const connection = await MongoConnection.connect({ uri: stackEnv().mongodbUri, database: uniqueName('an_store').replace(/-/g, '_') });
  return {
    store: new MongoAnalyticsStore(connection),
    cleanup: async () => {
      await connection.db.dropDatabase().catch(() => undefined);
      await connection.close();
    },
  };
});
