import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
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
  /** Where S3's access key and secret come from (missing or refused credentials name it). */
  s3Credentials: string;
  redisUrl: string;
}

/** The environment variables behind each server, for messages of the CLI and services. */
export const ENV_SETTING_NAMES: SettingNames = {
  kafkaBrokers: ENV.kafkaBrokers,
  schemaRegistryUrl: ENV.schemaRegistryUrl,
  mongodbUri: ENV.mongodbUri,
  s3Endpoint: ENV.s3Endpoint,
  s3Credentials: `${ENV.s3AccessKey} and ${ENV.s3SecretKey}`,
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
  if (s3) checks.push({ what: `S3 at ${redactUrl(s3.endpoint)}`, setting: names.s3Endpoint, run: (t) => probeS3(s3, names, t) });
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
  const line = failed
    .map(({ check, error }) => (error instanceof CredentialsFailure ? `${check.what} ${error.message} (check ${error.setting})` : `cannot reach ${check.what} (check ${check.setting}): ${reason(error)}`))
    .join('; ');
  const settings = failed.map((f) => (f.error instanceof CredentialsFailure ? f.error.setting : f.check.setting));
  // Credentials do not fix themselves: a retry is worth it only when a server did not answer.
  const retryable = failed.some((f) => !(f.error instanceof CredentialsFailure));
  throw new AgentStateError('AS_UNAVAILABLE', line, { retryable, cause: failed[0]!.error, details: { unreachable: settings } });
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

/** A server that answered but refused (or could not be given) credentials: the line names the credential settings, not the address. */
class CredentialsFailure extends Error {
  constructor(
    message: string,
    readonly setting: string,
  ) {
    super(message);
  }
}

/**
 * S3 answers HTTP at its endpoint, then a HEAD of the bucket with the
 * credentials the blob store will use: none configured and none in the AWS
 * credential chain (AWS_ACCESS_KEY_ID, a profile, instance metadata), or keys
 * S3 refuses (403), fail here with the settings to check, not later as an
 * unexplained AS_UNAVAILABLE. A missing bucket (404) is fine: setup creates it.
 */
async function probeS3(s3: S3Settings, names: SettingNames, timeoutMs: number): Promise<void> {
  await probeHttp(s3.endpoint, timeoutMs, false);
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    maxAttempts: 1,
    ...(s3.accessKeyId && s3.secretAccessKey ? { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } } : {}),
  });
  const chain = s3.accessKeyId ? names.s3Credentials : `${names.s3Credentials}, or the AWS credential chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE)`;
  try {
    await client.send(new HeadBucketCommand({ Bucket: s3.bucket }), { abortSignal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (err.name === 'CredentialsProviderError') throw new CredentialsFailure(`has no credentials: none set and none found in the AWS credential chain`, chain);
    const status = err.$metadata?.httpStatusCode;
    if (status === 403 || status === 401) throw new CredentialsFailure(`refused the credentials (HTTP ${status} for bucket ${s3.bucket})`, chain);
    if (status === 404 || (status !== undefined && status < 500)) return;
    throw e;
  } finally {
    client.destroy();
  }
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
