import { readEnv } from '../config/env.js';
import { ConfigError } from '../errors.js';
import { openLog, type OpenedLog } from '../sdk/wiring.js';

/** Where the CLI's commands read and write: the embedded profile or real servers. */
export type Backend = OpenedLog;

export interface BackendOptions {
  dataDir: string;
  /** 'auto' = servers when KAFKA_BROKERS is set, else embedded. */
  backend: 'auto' | 'embedded' | 'servers';
  env: NodeJS.ProcessEnv;
}

/**
 * The log side of the CLI's backend, from the environment (src/config). Only
 * KAFKA_BROKERS picks the servers here: commands like `inspect` or `history`
 * read the log alone, and `openProjection` asks for the rest when it needs it.
 * @throws ConfigError naming the variable that is missing or malformed
 */
export async function openBackend(options: BackendOptions): Promise<Backend> {
  const config = readEnv(options.env);
  const useServers = options.backend === 'servers' || (options.backend === 'auto' && config.kafka !== undefined);
  if (!useServers) return openLog({ kind: 'embedded', dataDir: options.dataDir, topicPrefix: config.topicPrefix });
  if (!config.kafka) throw new ConfigError('KAFKA_BROKERS', '--backend servers needs it (e.g. eval "$(scripts/stack env)")');
  return openLog({ kind: 'servers', kafka: config.kafka, topicPrefix: config.topicPrefix, clientId: 'agentstate-cli' });
}
