import { Kafka, logLevel } from 'kafkajs';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { AgentStateError } from '../errors.js';
import { ENV, type KafkaSettings, type MongoSettings, type S3Settings } from '../config/env.js';
import { redactUrl, redactUrlsIn, splitUrlCredentials } from '../util/redact.js';

/**
 * Reachability checks run before the servers profile opens anything. The
 * clients we use retry for a long time by default (kafkajs reconnects with
 * backoff, ioredis forever, the MongoDB driver 30 s of server selection), so
 * a wrong host would look like a hang; each check here makes one attempt,
 * bounded by `timeoutMs`, and all run in parallel.
 */

/** One server to check, and the setting a user should look at when it fails. */
interface Check {
  what: string;
  /** Env variable or option path, e.g. "KAFKA_BROKERS" or "servers.kafka.brokers". */
  setting: string;
  run: (timeoutMs: number) => Promise<void>;
}

/** Where each server setting came from, to name it in errors. */
export interface SettingNames {
  kafkaBrokers: string;
  schemaRegistryUrl: string;
  mongodbUri: string;
  s3Endpoint: string;
  redisUrl: string;
}

/** The environment variables behind each server, for messages of the CLI and services. */
export const ENV_SETTING_NAMES: SettingNames = {
  kafkaBrokers: ENV.kafkaBrokers,
  schemaRegistryUrl: ENV.schemaRegistryUrl,
  mongodbUri: ENV.mongodbUri,
  s3Endpoint: ENV.s3Endpoint,
  redisUrl: ENV.redisUrl,
};

/** The servers to check; an absent one is not checked (a command checks only what it opens). */
export interface ProbeTargets {
  kafka?: KafkaSettings | undefined;
  mongo?: MongoSettings | undefined;
  s3?: S3Settings | undefined;
  redisUrl?: string | undefined;
}

/**
 * Checks every given server at once.
 * @throws AgentStateError AS_UNAVAILABLE with one line naming each unreachable server and its setting
 */
export async function probeServers(targets: ProbeTargets, names: SettingNames, timeoutMs: number): Promise<void> {
  const { kafka, mongo, s3 } = targets;
  const checks: Check[] = [];
  if (kafka) checks.push({ what: `Kafka at ${kafka.brokers.join(',')}`, setting: names.kafkaBrokers, run: (t) => probeKafka(kafka.brokers, t) });
  if (mongo) checks.push({ what: `MongoDB at ${redactUrl(mongo.uri)}`, setting: names.mongodbUri, run: (t) => probeMongo(mongo.uri, t) });
  if (s3) checks.push({ what: `S3 at ${redactUrl(s3.endpoint)}`, setting: names.s3Endpoint, run: (t) => probeHttp(s3.endpoint, t, false) });
  const registry = kafka?.schemaRegistryUrl;
  if (registry) checks.push({ what: `the schema registry at ${redactUrl(registry)}`, setting: names.schemaRegistryUrl, run: (t) => probeHttp(`${registry.replace(/\/+$/, '')}/subjects`, t, true) });
  if (targets.redisUrl) checks.push({ what: `Redis at ${redactUrl(targets.redisUrl)}`, setting: names.redisUrl, run: (t) => probeRedis(targets.redisUrl!, t) });
  const results = await Promise.all(
    checks.map((c) =>
      withDeadline(c.run(timeoutMs), timeoutMs + 1000, timeoutMs).then(
        () => undefined,
        (e: unknown) => ({ check: c, error: e }),
      ),
    ),
  );
  const failed = results.filter((r) => r !== undefined);
  if (failed.length === 0) return;
  const line = failed.map(({ check, error }) => `cannot reach ${check.what} (check ${check.setting}): ${reason(error)}`).join('; ');
  throw new AgentStateError('AS_UNAVAILABLE', line, { retryable: true, cause: failed[0]!.error, details: { unreachable: failed.map((f) => f.check.setting) } });
}

async function probeKafka(brokers: string[], timeoutMs: number): Promise<void> {
  // One attempt: kafkajs would otherwise retry with backoff for up to 30 s per request.
  const kafka = new Kafka({ clientId: 'agentstate-probe', brokers, connectionTimeout: timeoutMs, requestTimeout: timeoutMs, retry: { retries: 0 }, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function probeMongo(uri: string, timeoutMs: number): Promise<void> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs });
  try {
    await client.connect();
    await client.db('admin').command({ ping: 1 });
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** Any HTTP answer means S3 is there (auth is checked when the bucket is set up); the registry must answer 2xx. */
async function probeHttp(target: string, timeoutMs: number, needOk: boolean): Promise<void> {
  // fetch refuses credentials in the URL: they go in a basic-auth header, as the registry client sends them.
  const { url, auth } = splitUrlCredentials(target);
  const headers: Record<string, string> = auth ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } : {};
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  await res.body?.cancel().catch(() => undefined);
  if (needOk && !res.ok) throw new Error(`HTTP ${res.status} from ${url}`);
}

async function probeRedis(url: string, timeoutMs: number): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
  } finally {
    redis.disconnect();
  }
}

/** The clients' own timeouts should fire first; this is the backstop that makes "never a hang" hold. */
function withDeadline<T>(p: Promise<T>, ms: number, said: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${said} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** The innermost message: drivers wrap the socket error that says what happened. */
function reason(error: unknown): string {
  let e = error as { message?: string; cause?: unknown; name?: string } | undefined;
  for (let i = 0; i < 4 && e?.cause instanceof Error; i++) e = e.cause as typeof e;
  const text = e?.message || e?.name || String(error);
  return redactUrlsIn(text.replace(/\s+/g, ' ').trim());
}
