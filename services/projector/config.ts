import { intVar as int, readEnv, requireServers, type MasterKeySource } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import { projectorGroup } from '../../src/log/topics.js';
import type { SnapshotPolicy } from '../../src/projector/index.js';

/** The projector service's settings, read from the environment once at start-up. */
export interface ProjectorServiceConfig {
  kafkaBrokers: string[];
  schemaRegistryUrl: string | undefined;
  mongodbUri: string;
  mongoDatabase: string;
  /** AGENTSTATE_FERRETDB_POSTGRES_URL: FerretDB 1.x on PostgreSQL only (indexes, counts, mirror rows: docs/store.md). */
  ferretdbPostgresUrl: string | undefined;
  s3: { endpoint: string; bucket: string; accessKeyId?: string; secretAccessKey?: string; prefix: string };
  redisUrl: string | undefined;
  topicPrefix: string;
  group: string;
  /** 0 disables the /metrics endpoint. */
  metricsPort: number;
  logLevel: string;
  sessionTimeoutMs: number;
  snapshots: Partial<SnapshotPolicy>;
  untilCaughtUp: boolean;
  /** AGENTSTATE_MASTER_KEYS_FILE or AGENTSTATE_MASTER_KEYS; undefined = snapshot bodies not encrypted. */
  masterKeys: MasterKeySource | undefined;
}

/**
 * Env: KAFKA_BROKERS, SCHEMA_REGISTRY_URL (Avro events; JSON when unset),
 * MONGODB_URI, AGENTSTATE_MONGO_DATABASE, AGENTSTATE_FERRETDB_POSTGRES_URL, S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY,
 * S3_SECRET_KEY, REDIS_URL (optional), AGENTSTATE_TOPIC_PREFIX,
 * AGENTSTATE_PROJECTOR_GROUP, METRICS_PORT, LOG_LEVEL, PROJECTOR_SESSION_TIMEOUT_MS,
 * SNAPSHOT_EVERY_EVENTS, SNAPSHOT_EVERY_BYTES, AGENTSTATE_MASTER_KEYS_FILE
 * (JSON key file) or AGENTSTATE_MASTER_KEYS (`id:base64,...`).
 * Args: --until-caught-up.
 */
export function loadConfig(env: NodeJS.ProcessEnv, argv: string[]): ProjectorServiceConfig {
  const unknown = argv.filter((a) => a !== '--until-caught-up');
  if (unknown.length > 0) throw new ConfigError('arguments', `unknown: ${unknown.join(' ')} (only --until-caught-up)`);
  // The shared settings (brokers, registry, MongoDB, S3, Redis, prefix, keys) come from src/config,
  // so this service, the CLI and the SDK read them the same way; all four servers are required here.
  const shared = readEnv(env);
  const servers = requireServers(shared);
  const topicPrefix = shared.topicPrefix;
  return {
    kafkaBrokers: servers.kafka.brokers,
    schemaRegistryUrl: servers.kafka.schemaRegistryUrl,
    mongodbUri: servers.mongo.uri,
    mongoDatabase: servers.mongo.database,
    ferretdbPostgresUrl: servers.mongo.ferretdbPostgresUrl,
    s3: { ...servers.s3, prefix: topicPrefix },
    redisUrl: servers.redisUrl,
    topicPrefix,
    group: env.AGENTSTATE_PROJECTOR_GROUP ?? projectorGroup(topicPrefix),
    metricsPort: int(env, 'METRICS_PORT', 9464),
    logLevel: env.LOG_LEVEL ?? 'info',
    sessionTimeoutMs: int(env, 'PROJECTOR_SESSION_TIMEOUT_MS', 30_000),
    snapshots: {
      ...(env.SNAPSHOT_EVERY_EVENTS ? { everyEvents: int(env, 'SNAPSHOT_EVERY_EVENTS', 100) } : {}),
      ...(env.SNAPSHOT_EVERY_BYTES ? { everyBytes: int(env, 'SNAPSHOT_EVERY_BYTES', 1 << 20) } : {}),
    },
    untilCaughtUp: argv.includes('--until-caught-up'),
    masterKeys: shared.masterKeys,
  };
}
