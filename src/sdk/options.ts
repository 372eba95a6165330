import type { Logger } from 'pino';
import type { AgentStateClientOptions } from '../client/types.js';
import type { MasterKeySet } from '../codec/master-keys.js';
import { DEFAULTS, ENV, readEnv, requireServers, type EnvConfig, type KafkaSettings, type MongoSettings, type S3Settings, type ServerSettings } from '../config/env.js';
import { loadMasterKeys } from '../config/keys.js';
import { ConfigError } from '../errors.js';
import type { SnapshotPolicy } from '../snapshots/snapshotter.js';
import { ENV_SETTING_NAMES, type SettingNames } from './probe.js';

/** Explicit server settings (they replace the environment's). */
export interface ServerOptions {
  kafka: { brokers: string[]; schemaRegistryUrl?: string };
  /** `ferretdbPostgresUrl`: FerretDB 1.x on PostgreSQL only, see MongoStoreOptions. */
  mongo: { uri: string; database?: string; ferretdbPostgresUrl?: string };
  s3: S3Settings;
  redisUrl?: string;
}

/** Who keeps the read side (store, snapshots, cache, state topic) up to date. */
export type ProjectorMode =
  /** In-process on the embedded profile; none on servers, where the projector service runs. */
  | 'auto'
  /** This process runs a projector in the background (its consumer group shares the work with any other). */
  | 'in-process'
  /** Something else projects (the projector service, `agentstate projector`). */
  | 'none';

export interface OpenAgentStateOptions {
  /**
   * 'auto': the servers when `servers` is given or any server variable is set
   * (KAFKA_BROKERS, SCHEMA_REGISTRY_URL, MONGODB_URI, S3_ENDPOINT, S3_BUCKET,
   * REDIS_URL), else embedded. @default 'auto'
   */
  profile?: 'auto' | 'embedded' | 'servers';
  /** Embedded profile: SQLite log and store, blob files. @default './.agentstate' */
  dataDir?: string;
  /** Server settings; when given, the environment's server variables are ignored. */
  servers?: ServerOptions;
  /** The environment to read; `false` reads none. @default process.env */
  env?: Record<string, string | undefined> | false;
  /** @default AGENTSTATE_TOPIC_PREFIX or 'agentstate.' */
  topicPrefix?: string;
  /** Encrypts snapshot bodies. @default from AGENTSTATE_MASTER_KEYS_FILE / AGENTSTATE_MASTER_KEYS, else off */
  masterKeys?: MasterKeySet;
  /** @default AGENTSTATE_PROJECTOR or 'auto' */
  projector?: ProjectorMode;
  /** Snapshot policy of the in-process projector and the manager. */
  snapshots?: Partial<SnapshotPolicy>;
  /** Bound on each reachability check of the servers (Kafka, registry, MongoDB, S3, Redis) at open. @default 10000 */
  connectTimeoutMs?: number;
  /**
   * How often this process's access figures (read and write times, cache
   * hits: `AccessReporter`) go to analytics on `<prefix>heartbeats`, and once
   * more at close; 0 sends none. @default 10000
   */
  accessReportMs?: number;
  /** Writer options (source, nodeId, lingerMs, decisionTimeoutMs). */
  client?: Pick<AgentStateClientOptions, 'source' | 'nodeId' | 'lingerMs' | 'decisionTimeoutMs' | 'maxEventBytes' | 'changesets'>;
  logger?: Logger;
}

/** Options after defaults, environment and validation. */
export type ResolvedOptions = (Common & { profile: 'embedded'; dataDir: string }) | (Common & { profile: 'servers'; servers: ServerSettings; names: SettingNames });

interface Common {
  topicPrefix: string;
  masterKeys: MasterKeySet | undefined;
  projector: 'in-process' | 'none';
  connectTimeoutMs: number;
  accessReportMs: number;
}

/** The SDK's own defaults (the others come from DEFAULTS, src/config/env.ts). */
export const SDK_DEFAULTS = { connectTimeoutMs: 10_000, accessReportMs: 10_000 } as const;

const ENV_NAMES: SettingNames = ENV_SETTING_NAMES;

const OPTION_NAMES: SettingNames = {
  kafkaBrokers: 'servers.kafka.brokers',
  schemaRegistryUrl: 'servers.kafka.schemaRegistryUrl',
  mongodbUri: 'servers.mongo.uri',
  s3Endpoint: 'servers.s3.endpoint',
  s3Credentials: 'servers.s3.accessKeyId and servers.s3.secretAccessKey',
  redisUrl: 'servers.redisUrl',
};

/** The SDK-only variable: who projects (see {@link ProjectorMode}). */
export const PROJECTOR_VARIABLE = 'AGENTSTATE_PROJECTOR';

/**
 * Options over the environment over the defaults, validated once.
 * @throws ConfigError naming the bad option or variable (half a server set lists every missing variable)
 */
export async function resolveOptions(options: OpenAgentStateOptions): Promise<ResolvedOptions> {
  const env = options.env === false ? {} : (options.env ?? process.env);
  const config: EnvConfig = readEnv(env);
  const profileOption = options.profile ?? 'auto';
  if (!['auto', 'embedded', 'servers'].includes(profileOption)) throw new ConfigError('profile', `"${profileOption}" is not auto, embedded or servers`);
  const projectorOption = (options.projector ?? (env[PROJECTOR_VARIABLE] || 'auto')) as ProjectorMode;
  if (!['auto', 'in-process', 'none'].includes(projectorOption)) {
    throw new ConfigError(options.projector ? 'projector' : PROJECTOR_VARIABLE, `"${projectorOption}" is not auto, in-process or none`);
  }
  const connectTimeoutMs = options.connectTimeoutMs ?? SDK_DEFAULTS.connectTimeoutMs;
  if (!Number.isSafeInteger(connectTimeoutMs) || connectTimeoutMs <= 0) throw new ConfigError('connectTimeoutMs', 'must be a positive integer of milliseconds');
  const accessReportMs = options.accessReportMs ?? SDK_DEFAULTS.accessReportMs;
  if (!Number.isSafeInteger(accessReportMs) || accessReportMs < 0) throw new ConfigError('accessReportMs', 'must be 0 (off) or a positive integer of milliseconds');
  const topicPrefix = options.topicPrefix ?? config.topicPrefix;
  if (!/^[A-Za-z0-9._-]*$/.test(topicPrefix)) throw new ConfigError('topicPrefix', `"${topicPrefix}" may only hold letters, digits, '.', '_' and '-'`);
  const masterKeys = options.masterKeys ?? (await loadMasterKeys(config.masterKeys));
  const servers = profileOption === 'embedded' ? false : profileOption === 'servers' || options.servers !== undefined || config.serverVariablesSet.length > 0;
  const projector = projectorOption === 'auto' ? (servers ? 'none' : 'in-process') : projectorOption;
  const common: Common = { topicPrefix, masterKeys, projector, connectTimeoutMs, accessReportMs };
  if (!servers) return { ...common, profile: 'embedded', dataDir: options.dataDir ?? DEFAULTS.dataDir };
  if (options.servers) return { ...common, profile: 'servers', servers: checkServerOptions(options.servers), names: OPTION_NAMES };
  return { ...common, profile: 'servers', servers: requireServers(config), names: ENV_NAMES };
}

function checkServerOptions(o: ServerOptions): ServerSettings {
  const missing = [!o.kafka?.brokers?.length && 'servers.kafka.brokers', !o.mongo?.uri && 'servers.mongo.uri', !o.s3?.endpoint && 'servers.s3.endpoint', !o.s3?.bucket && 'servers.s3.bucket'].filter(
    (x): x is string => typeof x === 'string',
  );
  if (missing.length > 0) throw new ConfigError(missing.join(', '), 'missing: explicit servers need Kafka brokers, a MongoDB uri and an S3 endpoint and bucket');
  // The same format checks as the environment's, under the option's name.
  const fromEnv = readEnvLike(o);
  const kafka: KafkaSettings = { brokers: fromEnv.kafka!.brokers, schemaRegistryUrl: o.kafka.schemaRegistryUrl };
  const mongo: MongoSettings = { uri: o.mongo.uri, database: o.mongo.database ?? DEFAULTS.mongoDatabase, ...(o.mongo.ferretdbPostgresUrl ? { ferretdbPostgresUrl: o.mongo.ferretdbPostgresUrl } : {}) };
  return { kafka, mongo, s3: o.s3, redisUrl: o.redisUrl };
}

function readEnvLike(o: ServerOptions): EnvConfig {
  const pairs: [keyof typeof OPTION_NAMES, string, string | undefined][] = [
    ['kafkaBrokers', ENV.kafkaBrokers, o.kafka.brokers.join(',')],
    ['schemaRegistryUrl', ENV.schemaRegistryUrl, o.kafka.schemaRegistryUrl],
    ['mongodbUri', ENV.mongodbUri, o.mongo.uri],
    ['s3Endpoint', ENV.s3Endpoint, o.s3.endpoint],
    ['redisUrl', ENV.redisUrl, o.redisUrl],
  ];
  try {
    return readEnv(Object.fromEntries(pairs.map(([, name, v]) => [name, v])));
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const pair = pairs.find(([, name]) => e.message.includes(`configuration: ${name}:`));
    if (!pair) throw e;
    throw new ConfigError(OPTION_NAMES[pair[0]], e.message.slice(e.message.indexOf(`${pair[1]}:`) + pair[1].length + 2), { cause: e });
  }
}
