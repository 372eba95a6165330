import { readEnv } from '../config/env.js';
import { ConfigError } from '../errors.js';
import { ENV_SETTING_NAMES, probeServers } from '../sdk/probe.js';
import { openLog, type OpenedLog } from '../sdk/wiring.js';

/** Where the CLI's commands read and write: the embedded profile or real servers. */
export type Backend = OpenedLog;

export interface BackendOptions {
  dataDir: string;
  /** 'auto' = servers when KAFKA_BROKERS is set, else embedded. */
  backend: 'auto' | 'embedded' | 'servers';
  env: NodeJS.ProcessEnv;
  /**
   * The command only reads: on the embedded profile a missing data dir or log
   * is an error, never created (issue 12 §3).
   * @default false
   */
  readOnly?: boolean;
}

/**
 * The log side of the CLI's backend, from the environment (src/config). Only
 * KAFKA_BROKERS picks the servers here: commands like `inspect` or `history`
 * read the log alone, and `openProjection` asks for the rest when it needs it.
 * Kafka (and the registry) are checked first, each within
 * AGENTSTATE_CONNECT_TIMEOUT_MS, so a dead server is one line naming it, not a hang.
 * @throws ConfigError naming the variable that is missing or malformed
 * @throws AgentStateError AS_UNAVAILABLE naming the unreachable server and its variable
 */
export async function openBackend(options: BackendOptions): Promise<Backend> {
  const config = readEnv(options.env);
  const useServers = options.backend === 'servers' || (options.backend === 'auto' && config.kafka !== undefined);
  if (!useServers) return openLog({ kind: 'embedded', dataDir: options.dataDir, topicPrefix: config.topicPrefix, create: options.readOnly !== true });
  if (!config.kafka) throw new ConfigError('KAFKA_BROKERS', '--backend servers needs it (e.g. eval "$(scripts/stack env)")');
  await probeServers({ kafka: config.kafka }, ENV_SETTING_NAMES, config.connectTimeoutMs);
  return openLog({ kind: 'servers', kafka: config.kafka, topicPrefix: config.topicPrefix, clientId: 'agentstate-cli', connectionTimeoutMs: config.connectTimeoutMs, ...(config.s3 ? { s3: config.s3 } : {}) });
}
