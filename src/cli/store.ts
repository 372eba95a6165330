import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readEnv } from '../config/env.js';
import { MongoStore } from '../store/mongo/store.js';
import type { StateStore } from '../store/port.js';
import { SqliteStateStore } from '../store/sqlite/index.js';
import { UsageError } from './args.js';

/**
 * The projector's state store alone (no S3, no Redis, no log connection), for
 * the commands that only read it (`list`, `status`): they must answer in well
 * under a second. Undefined when the embedded store file does not exist yet
 * (it is never created here).
 * @throws UsageError when the servers are asked for and MONGODB_URI is not set
 */
export async function openStoreOnly(kind: 'embedded' | 'servers', dataDir: string, env: NodeJS.ProcessEnv, command: string): Promise<StateStore | undefined> {
  if (kind === 'embedded') {
    const path = join(resolve(dataDir), 'store.sqlite');
    if (!existsSync(path)) return undefined;
    const store = new SqliteStateStore({ path });
    await store.setup();
    return store;
  }
  const mongo = readEnv(env).mongo;
  if (!mongo) throw new UsageError(`the servers backend needs MONGODB_URI to ${command} (e.g. eval "$(scripts/stack env)")`);
  return MongoStore.connect({
    uri: mongo.uri,
    database: mongo.database,
    clientOptions: { serverSelectionTimeoutMS: 10_000 },
  });
}
