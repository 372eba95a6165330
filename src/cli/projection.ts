import { join, resolve } from 'node:path';
import type { BlobStore } from '../blob/port.js';
import { FsBlobStore } from '../blob/fs.js';
import { S3BlobStore } from '../blob/s3.js';
import type { Cache } from '../cache/port.js';
import { Keyring } from '../codec/keyring.js';
import { MasterKeySet } from '../codec/master-keys.js';
import { MemoryCache } from '../cache/memory.js';
import { RedisCache } from '../cache/redis.js';
import type { StateStore } from '../store/port.js';
import { MongoDataKeyStore } from '../store/mongo/data-keys.js';
import { MongoStore } from '../store/mongo/store.js';
import { SqliteDataKeyStore, SqliteStateStore } from '../store/sqlite/index.js';
import type { Backend } from './backend.js';

/** The projector's sinks for a backend: SQLite + files + memory embedded; MongoDB + S3 + Redis on servers. */
export interface Projection {
  store: StateStore;
  blobs: BlobStore;
  cache: Cache | undefined;
  /** Set when the environment names master keys: snapshot bodies are then encrypted. */
  keyring: Keyring | undefined;
  close(): Promise<void>;
}

export async function openProjection(backend: Backend, dataDir: string, env: NodeJS.ProcessEnv): Promise<Projection> {
  let store: StateStore;
  let blobs: BlobStore;
  let cache: Cache | undefined;
  let keyring: Keyring | undefined;
  const masterKeys = await MasterKeySet.fromEnv(env);
  if (backend.kind === 'embedded') {
    const dir = resolve(dataDir);
    store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
    blobs = new FsBlobStore({ dir: join(dir, 'blobs') });
    cache = new MemoryCache();
  } else {
    if (!env.MONGODB_URI) throw new Error('the servers backend needs MONGODB_URI for the projector');
    if (!env.S3_ENDPOINT || !env.S3_BUCKET) throw new Error('the servers backend needs S3_ENDPOINT and S3_BUCKET for snapshots');
    store = await MongoStore.connect({ uri: env.MONGODB_URI, database: env.AGENTSTATE_MONGO_DATABASE ?? 'agentstate' });
    blobs = new S3BlobStore({
      endpoint: env.S3_ENDPOINT,
      bucket: env.S3_BUCKET,
      ...(env.S3_ACCESS_KEY ? { accessKeyId: env.S3_ACCESS_KEY } : {}),
      ...(env.S3_SECRET_KEY ? { secretAccessKey: env.S3_SECRET_KEY } : {}),
      prefix: backend.prefix,
    });
    cache = env.REDIS_URL ? new RedisCache({ url: env.REDIS_URL, prefix: `${backend.prefix}cache:` }) : undefined;
  }
  await store.setup();
  await blobs.setup();
  let keys: SqliteDataKeyStore | MongoDataKeyStore | undefined;
  if (masterKeys) {
    // Data keys beside the state they protect: keys.sqlite in the data dir, or `data_keys` in MongoDB.
    keys = store instanceof MongoStore ? new MongoDataKeyStore(store.connection) : new SqliteDataKeyStore({ path: join(resolve(dataDir), 'keys.sqlite') });
    await keys.setup();
    keyring = new Keyring({ masterKeys, store: keys });
  }
  return {
    store,
    blobs,
    cache,
    keyring,
    async close() {
      await Promise.allSettled([store.close(), blobs.close(), cache?.close(), keys instanceof SqliteDataKeyStore ? keys.close() : undefined]);
    },
  };
}
