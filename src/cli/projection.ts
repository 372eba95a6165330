import { loadMasterKeys } from '../config/keys.js';
import { readEnv, requireServers } from '../config/env.js';
import { openSinks, type OpenedSinks } from '../sdk/wiring.js';
import type { Backend } from './backend.js';

/** The projector's sinks for a backend: SQLite + files + memory embedded; MongoDB + S3 + Redis on servers. */
export type Projection = OpenedSinks;

/**
 * Opens the sinks that match `backend`, from the environment (src/config):
 * the servers need MONGODB_URI, S3_ENDPOINT and S3_BUCKET (REDIS_URL optional);
 * master keys, when named, turn snapshot encryption on.
 * @throws ConfigError naming the missing or malformed variables
 */
export async function openProjection(backend: Backend, dataDir: string, env: NodeJS.ProcessEnv): Promise<Projection> {
  const config = readEnv(env);
  const masterKeys = await loadMasterKeys(config.masterKeys);
  if (backend.kind === 'embedded') return openSinks({ kind: 'embedded', dataDir, masterKeys });
  const servers = requireServers(config);
  return openSinks({ kind: 'servers', mongo: servers.mongo, s3: servers.s3, redisUrl: servers.redisUrl, topicPrefix: backend.prefix, masterKeys });
}
