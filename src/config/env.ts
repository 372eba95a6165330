import { ConfigError } from '../errors.js';
import { DEFAULT_TOPIC_PREFIX } from '../log/topics.js';
import { redactUrl, redactUrlsIn } from '../util/redact.js';

/**
 * The one place that turns an environment into typed settings, for the CLI,
 * the services and the SDK alike (STYLE.md habit 5: env is read at the edge,
 * once). Variable names are a contract: never rename one.
 */

/** Every variable this module reads, by the setting it feeds. */
export const ENV = {
  kafkaBrokers: 'KAFKA_BROKERS',
  schemaRegistryUrl: 'SCHEMA_REGISTRY_URL',
  mongodbUri: 'MONGODB_URI',
  mongoDatabase: 'AGENTSTATE_MONGO_DATABASE',
  ferretdbPostgresUrl: 'AGENTSTATE_FERRETDB_POSTGRES_URL',
  s3Endpoint: 'S3_ENDPOINT',
  s3Bucket: 'S3_BUCKET',
  s3AccessKey: 'S3_ACCESS_KEY',
  s3SecretKey: 'S3_SECRET_KEY',
  redisUrl: 'REDIS_URL',
  topicPrefix: 'AGENTSTATE_TOPIC_PREFIX',
  masterKeys: 'AGENTSTATE_MASTER_KEYS',
  masterKeysFile: 'AGENTSTATE_MASTER_KEYS_FILE',
  connectTimeoutMs: 'AGENTSTATE_CONNECT_TIMEOUT_MS',
} as const;

/**
 * Variables whose presence says "use the servers". Credentials and names with
 * defaults (S3 keys, AGENTSTATE_MONGO_DATABASE) do not count: they are harmless
 * beside the embedded profile.
 */
export const SERVER_VARIABLES = [ENV.kafkaBrokers, ENV.schemaRegistryUrl, ENV.mongodbUri, ENV.s3Endpoint, ENV.s3Bucket, ENV.redisUrl] as const;

/** Of {@link SERVER_VARIABLES}, the ones the servers profile cannot run without. */
export const REQUIRED_SERVER_VARIABLES = [ENV.kafkaBrokers, ENV.mongodbUri, ENV.s3Endpoint, ENV.s3Bucket] as const;

/** Defaults shared by every entry point. */
export const DEFAULTS = {
  topicPrefix: DEFAULT_TOPIC_PREFIX,
  mongoDatabase: 'agentstate',
  dataDir: './.agentstate',
  /** How long a command waits for each server it needs before it gives up naming it (issue 12 §1). */
  connectTimeoutMs: 15_000,
} as const;

/** Kafka and the (optional) schema registry. */
export interface KafkaSettings {
  /** host:port list. */
  brokers: string[];
  /** Avro events with registry framing when set; JSON events when unset. */
  schemaRegistryUrl: string | undefined;
}

export interface MongoSettings {
  uri: string;
  /** @default 'agentstate' */
  database: string;
  /** FerretDB 1.x on PostgreSQL: the PostgreSQL database under it, for the indexes reads by agent need (docs/store.md). */
  ferretdbPostgresUrl?: string;
}

export interface S3Settings {
  endpoint: string;
  bucket: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

/** Where master keys come from (encryption of snapshot bodies); undefined = encryption off. */
export type MasterKeySource = { file: string } | { inline: string };

/** Everything the environment says, each part validated; absent parts are undefined. */
export interface EnvConfig {
  /** @default 'agentstate.' */
  topicPrefix: string;
  kafka: KafkaSettings | undefined;
  mongo: MongoSettings | undefined;
  /** Set only when both S3_ENDPOINT and S3_BUCKET are. */
  s3: S3Settings | undefined;
  redisUrl: string | undefined;
  masterKeys: MasterKeySource | undefined;
  /** Deadline for reaching each server. @default 15000 (AGENTSTATE_CONNECT_TIMEOUT_MS) */
  connectTimeoutMs: number;
  /** Which of {@link SERVER_VARIABLES} are set (non-empty), in that order. */
  serverVariablesSet: string[];
}

/** The servers profile, complete. */
export interface ServerSettings {
  kafka: KafkaSettings;
  mongo: MongoSettings;
  s3: S3Settings;
  /** Optional: no cache when unset. */
  redisUrl: string | undefined;
}

type Env = Record<string, string | undefined>;

/** A variable's value; an empty string counts as unset (a common shell leftover). */
function ferretdbPostgres(env: Env): { ferretdbPostgresUrl?: string } {
  const v = url(env, ENV.ferretdbPostgresUrl, ['postgres:', 'postgresql:']);
  return v === undefined ? {} : { ferretdbPostgresUrl: v };
}

function get(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function url(env: Env, name: string, schemes: string[]): string | undefined {
  const v = get(env, name);
  if (v === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(v);
  } catch {
    throw new ConfigError(name, `"${redactUrlsIn(v)}" is not a URL (expected ${schemes.map((s) => `${s}//...`).join(' or ')})`);
  }
  if (!schemes.includes(parsed.protocol)) throw new ConfigError(name, `"${redactUrl(v)}" must start with ${schemes.map((s) => `${s}//`).join(' or ')}`);
  return v;
}

/** Parses KAFKA_BROKERS: `host:port[,host:port...]`. */
export function parseBrokers(text: string, name: string = ENV.kafkaBrokers): string[] {
  const brokers = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (brokers.length === 0) throw new ConfigError(name, 'needs at least one host:port');
  for (const b of brokers) {
    const m = /^([^\s:/]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(b);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new ConfigError(name, `"${b}" is not host:port`);
  }
  return brokers;
}

/**
 * Reads and validates every agentstate variable of `env`. Nothing is
 * required here: which parts a caller needs is {@link requireServers}'s
 * (or the caller's) business.
 * @throws ConfigError naming the variable whose value is malformed
 */
export function readEnv(env: Env): EnvConfig {
  const topicPrefix = env[ENV.topicPrefix] ?? DEFAULTS.topicPrefix;
  if (!/^[A-Za-z0-9._-]*$/.test(topicPrefix)) {
    throw new ConfigError(ENV.topicPrefix, `"${topicPrefix}" may only hold letters, digits, '.', '_' and '-'`);
  }
  const brokers = get(env, ENV.kafkaBrokers);
  const schemaRegistryUrl = url(env, ENV.schemaRegistryUrl, ['http:', 'https:']);
  const mongodbUri = url(env, ENV.mongodbUri, ['mongodb:', 'mongodb+srv:']);
  const endpoint = url(env, ENV.s3Endpoint, ['http:', 'https:']);
  const bucket = get(env, ENV.s3Bucket);
  const accessKeyId = get(env, ENV.s3AccessKey);
  const secretAccessKey = get(env, ENV.s3SecretKey);
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new ConfigError(accessKeyId === undefined ? ENV.s3AccessKey : ENV.s3SecretKey, `is required when ${accessKeyId === undefined ? ENV.s3SecretKey : ENV.s3AccessKey} is set`);
  }
  const file = get(env, ENV.masterKeysFile);
  const inline = get(env, ENV.masterKeys);
  if (file && inline) throw new ConfigError(ENV.masterKeys, `set either it or ${ENV.masterKeysFile}, not both`);
  const timeout = get(env, ENV.connectTimeoutMs);
  if (timeout !== undefined && (!/^\d+$/.test(timeout) || Number(timeout) < 1)) {
    throw new ConfigError(ENV.connectTimeoutMs, `"${timeout}" is not a positive whole number of milliseconds`);
  }
  return {
    topicPrefix,
    kafka: brokers === undefined ? undefined : { brokers: parseBrokers(brokers), schemaRegistryUrl },
    mongo: mongodbUri === undefined ? undefined : { uri: mongodbUri, database: get(env, ENV.mongoDatabase) ?? DEFAULTS.mongoDatabase, ...ferretdbPostgres(env) },
    s3: endpoint === undefined || bucket === undefined ? undefined : { endpoint, bucket, ...(accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : {}) },
    redisUrl: url(env, ENV.redisUrl, ['redis:', 'rediss:']),
    masterKeys: file ? { file } : inline ? { inline } : undefined,
    connectTimeoutMs: timeout === undefined ? DEFAULTS.connectTimeoutMs : Number(timeout),
    serverVariablesSet: SERVER_VARIABLES.filter((name) => get(env, name) !== undefined),
  };
}

/**
 * The complete servers profile, or a ConfigError that lists every missing
 * variable at once (half a server set is a mistake, never a silent fallback).
 * @throws ConfigError naming the missing variables
 */
export function requireServers(config: EnvConfig): ServerSettings {
  const missing: string[] = [];
  if (!config.kafka) missing.push(ENV.kafkaBrokers);
  if (!config.mongo) missing.push(ENV.mongodbUri);
  if (!config.s3) {
    // Name only the half that is absent.
    const set = new Set(config.serverVariablesSet);
    if (!set.has(ENV.s3Endpoint)) missing.push(ENV.s3Endpoint);
    if (!set.has(ENV.s3Bucket)) missing.push(ENV.s3Bucket);
  }
  if (missing.length > 0) {
    const set = config.serverVariablesSet;
    throw new ConfigError(
      missing.join(', '),
      `missing: the servers profile needs ${REQUIRED_SERVER_VARIABLES.join(', ')}` +
        (set.length > 0 ? ` (only ${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set; unset ${set.length === 1 ? 'it' : 'them'} for the embedded profile)` : ''),
      { details: { missing, set } },
    );
  }
  return { kafka: config.kafka!, mongo: config.mongo!, s3: config.s3!, redisUrl: config.redisUrl };
}

/**
 * A non-negative integer variable, `fallback` when unset.
 * @throws ConfigError naming the variable
 */
export function intVar(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new ConfigError(name, `"${raw}" is not a non-negative integer`);
  return n;
}
