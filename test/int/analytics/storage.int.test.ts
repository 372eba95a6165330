import { afterAll, describe, it } from 'vitest';
import { S3BlobStore } from '../../../src/blob/s3.js';
import { analytics } from '../../../src/cli/commands/analytics.js';
import { MongoAnalyticsStore } from '../../../src/store/mongo/analytics.js';
import { MongoConnection, MongoStore } from '../../../src/store/mongo/index.js';
import { agentStorageScenario } from '../../support/agent-storage.js';
import { stackEnv, uniqueName } from '../../support/env.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe('analyzeStorageUtilization per agent (servers: FerretDB store, S3 blobs)', () => {
  it('reports each agent its own store, snapshot, claim-check and backup bytes, and `agentstate analytics --backend servers` shows them', async () => {
    const env = stackEnv();
    // One database for the state store and the analytics store, one bucket prefix: what the CLI opens from the env.
    const database = uniqueName('an_storage').replace(/[-.]/g, '_');
    const prefix = `${uniqueName('stor')}.`;
    const store = await MongoStore.connect({ uri: env.mongodbUri, database });
    await store.setup();
    const connection = await MongoConnection.connect({ uri: env.mongodbUri, database });
    cleanups.push(async () => {
      await connection.db.dropDatabase();
      await connection.close();
    });
    const analyticsStore = new MongoAnalyticsStore(connection);
    await analyticsStore.setup();
    const blobs = new S3BlobStore({ ...env.s3, prefix });
    await blobs.setup();
    cleanups.push(
      () => blobs.close(),
      () => store.close(),
    );

    await agentStorageScenario({ store, blobs, analyticsStore }, async (args) => {
      const vars: Record<string, string> = {
        KAFKA_BROKERS: env.kafkaBrokers.join(','),
        MONGODB_URI: env.mongodbUri,
        AGENTSTATE_MONGO_DATABASE: database,
        S3_ENDPOINT: env.s3.endpoint,
        S3_BUCKET: env.s3.bucket,
        S3_ACCESS_KEY: env.s3.accessKeyId,
        S3_SECRET_KEY: env.s3.secretAccessKey,
        AGENTSTATE_TOPIC_PREFIX: prefix,
      };
      const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
      Object.assign(process.env, vars);
      try {
        const lines: string[] = [];
        const code = await analytics([...args, '--backend', 'servers'], (s) => lines.push(s));
        return { code, text: lines.join('\n') };
      } finally {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    });
  }, 120_000);
});
