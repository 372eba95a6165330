import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readEnv } from '../config/env.js';
import { UsageError } from './args.js';
import { ENV_SETTING_NAMES, probeServers } from '../sdk/probe.js';
import { MongoStore } from '../store/mongo/store.js';
import type { StateStore } from '../store/port.js';
import { SqliteStateStore } from '../store/sqlite/index.js';

/**
 * The state store alone, for commands that only read it (`list`, `status`):
 * no log, no blob store, no cache, so S3 or Redis being down cannot stop them
 * (issue 12 §1: every command opens only what it uses). Undefined when the
 * embedded profile has no store file yet; none is created.
 * @throws UsageError when the servers are asked for without MONGODB_URI
 * @throws AgentStateError AS_UNAVAILABLE when MongoDB does not answer within AGENTSTATE_CONNECT_TIMEOUT_MS
 */
export async function openStoreOnly(kind: 'auto' | 'embedded' | 'servers', dataDir: string, env: NodeJS.ProcessEnv, command = 'read the state store'): Promise<StateStore | undefined> {
  const config = readEnv(env);
  const servers = kind === 'servers' || (kind === 'auto' && config.kafka !== undefined);
  if (!servers) {
    const path = join(resolve(dataDir), 'store.sqlite');
    if (!existsSync(path)) return undefined;
    const store = new SqliteStateStore({ path, readOnly: true });
    await store.setup();
    return store;
  }
  if (!config.mongo) throw new UsageError(`the servers backend needs MONGODB_URI to ${command} (e.g. eval "$(scripts/stack env)")`);
  await probeServers({ mongo: config.mongo }, ENV_SETTING_NAMES, config.connectTimeoutMs);
  // With FerretDB's PostgreSQL, `status` reads its counts there (countDocuments fetches every document on FerretDB).
  const postgres = config.mongo.ferretdbPostgresUrl === undefined ? {} : { ferretdbPostgresUrl: config.mongo.ferretdbPostgresUrl };
  return MongoStore.connect({ uri: config.mongo.uri, database: config.mongo.database, clientOptions: { serverSelectionTimeoutMS: config.connectTimeoutMs }, ...postgres });
}
