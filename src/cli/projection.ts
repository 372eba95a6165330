import { loadMasterKeys } from '../config/keys.js';
import { readEnv, requireServers } from '../config/env.js';
import { ENV_SETTING_NAMES, probeServers } from '../sdk/probe.js';
import { openSinks, type OpenedSinks } from '../sdk/wiring.js';
import type { Backend } from './backend.js';

/** The projector's sinks for a backend: SQLite + files + memory embedded; MongoDB + S3 + Redis on servers. */
export type Projection = OpenedSinks;

/**
 * Opens the sinks that match `backend`, from the environment (src/config):
 * the servers need MONGODB_URI, S3_ENDPOINT and S3_BUCKET (REDIS_URL optional);
 * master keys, when named, turn snapshot encryption on. Each server is checked
 * first, within AGENTSTATE_CONNECT_TIMEOUT_MS.
 * @throws ConfigError naming the missing or malformed variables
 * @throws AgentStateError AS_UNAVAILABLE naming each unreachable server and its variable
 */
export async function openProjection(backend: Backend, dataDir: string, env: NodeJS.ProcessEnv): Promise<Projection> {
  const config = readEnv(env);
  const masterKeys = await loadMasterKeys(config.masterKeys);
  if (backend.kind === 'embedded') return openSinks({ kind: 'embedded', dataDir, masterKeys });
  const servers = requireServers(config);
  // Each server within the deadline, or one line naming it (issue 12 §1): the drivers alone retry for minutes (ioredis forever).
  await probeServers({ mongo: servers.mongo, s3: servers.s3, redisUrl: servers.redisUrl }, ENV_SETTING_NAMES, config.connectTimeoutMs);
  return openSinks({ kind: 'servers', mongo: servers.mongo, s3: servers.s3, redisUrl: servers.redisUrl, topicPrefix: backend.prefix, masterKeys });
}
