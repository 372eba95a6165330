import { resolve } from 'node:path';
import { DEFAULT_ARCHIVER_OPTIONS, backupGroup } from '../../src/backup/index.js';
import { COMPRESSION_ALGORITHMS, type CompressionAlgorithm } from '../../src/codec/index.js';
import { ConfigError } from '../../src/errors.js';
import { DEFAULT_TOPIC_PREFIX } from '../../src/log/topics.js';

/** The backup service's settings, read from the environment once at start-up. */
export interface BackupServiceConfig {
  /** servers when KAFKA_BROKERS is set, else embedded (SQLite log + blobs under dataDir). */
  profile: 'servers' | 'embedded';
  kafkaBrokers: string[];
  schemaRegistryUrl: string | undefined;
  s3: { endpoint: string; bucket: string; accessKeyId?: string; secretAccessKey?: string } | undefined;
  dataDir: string;
  topicPrefix: string;
  group: string;
  segmentMaxBytes: number;
  segmentMaxAgeMs: number;
  compression: CompressionAlgorithm;
  tickMs: number;
  sessionTimeoutMs: number;
  /** 0 disables /metrics and /health. */
  metricsPort: number;
  /** /health answers 503 when a partition's RPO passes this (s). */
  healthMaxRpoSeconds: number;
  /** Encrypt archived values under each agent's data key (needs master keys; data keys in MongoDB or keys.sqlite). */
  encrypt: boolean;
  /**
   * Back up the wrapped data keys and the shred list: with `encrypt`, or
   * whenever master keys are configured (the projector then encrypts snapshot bodies).
   */
  backupKeys: boolean;
  /** Run `backup drill` every this many ms inside the service; 0 = off (the default). */
  drillIntervalMs: number;
  /** How often the whole key store is compared with the backup's copy (ms). */
  keysSyncMs: number;
  /** How often topic configs, registry subjects and the snapshot catalog are compared with the backup's copies (ms). */
  metadataSyncMs: number;
  /** How often unreferenced segment objects are pruned (ms; 0 = never). */
  pruneIntervalMs: number;
  /** Unreferenced segment objects younger than this are kept (ms). */
  orphanGraceMs: number;
  /** A checkpoint per partition when its newest is this old (ms; 0 = never), on the retention schedule. */
  checkpointIntervalMs: number;
  /** Keep every restore point of the last N days (0 = keep everything). */
  keepDays: number;
  /** Beyond keepDays, the newest checkpoint of each of the last N months. */
  keepMonthly: number;
  trimLogAfterMs: number;
  /** Where the snapshot catalog is read on the servers profile (MONGODB_URI set); undefined = no catalog in the backup. */
  catalogMongo: { uri: string; database: string } | undefined;
  /** Where the data keys are on the servers profile (only with `backupKeys`). */
  mongo: { uri: string; database: string } | undefined;
  logLevel: string;
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new ConfigError(name, `"${raw}" is not an integer >= ${min}`);
  return n;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new ConfigError(name, 'is required on the servers profile');
  return v;
}

/**
 * Env: KAFKA_BROKERS (servers profile when set), SCHEMA_REGISTRY_URL,
 * S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY, AGENTSTATE_DATA_DIR
 * (embedded; default ./.agentstate), AGENTSTATE_TOPIC_PREFIX,
 * AGENTSTATE_BACKUP_GROUP, BACKUP_SEGMENT_MAX_BYTES (8 MiB),
 * BACKUP_SEGMENT_MAX_AGE_MS (30000), BACKUP_COMPRESSION (lz4), BACKUP_TICK_MS
 * (1000), BACKUP_SESSION_TIMEOUT_MS (30000), BACKUP_HEALTH_MAX_RPO_S (900),
 * METRICS_PORT (9465; 0 = off), LOG_LEVEL, BACKUP_ENCRYPT (1/true: encrypt
 * values; needs AGENTSTATE_MASTER_KEYS[_FILE], and on servers MONGODB_URI +
 * AGENTSTATE_MONGO_DATABASE for the data keys). With master keys configured
 * the wrapped data keys and the shred list are backed up (BACKUP_KEYS_SYNC_MS,
 * 60000: how often shreds and rotations are carried over).
 * BACKUP_DRILL_INTERVAL_MS (0 = off, the default; e.g. 86400000 = daily):
 * runs `agentstate backup drill` on that schedule and records it in
 * backup_drills (on servers the drill needs MONGODB_URI).
 * BACKUP_METADATA_SYNC_MS (60000): how often the topic configurations, the
 * registry subjects (<prefix>...) and the snapshot catalog (MongoDB
 * state_snapshots when MONGODB_URI is set; store.sqlite embedded) are
 * carried over. BACKUP_PRUNE_INTERVAL_MS (3600000; 0 = never) and
 * BACKUP_ORPHAN_GRACE_MS (86400000): the retention deletes segment objects no
 * manifest names once older than the grace (never a segment a manifest names).
 * BACKUP_CHECKPOINT_INTERVAL_MS (0 = never; e.g. 86400000 = daily),
 * BACKUP_KEEP_DAYS (0 = keep everything) and BACKUP_KEEP_MONTHLY (0): the
 * retention by age of docs/backup.md "Retention" (checkpoints, then segments
 * older than the oldest kept checkpoint deleted). BACKUP_TRIM_LOG_AFTER_MS
 * (0 = never; e.g. 604800000 = 7 days): on the retention's schedule, events
 * older than this that the backup holds and the projector (and analytics,
 * when it runs) consumed are deleted from the events topic
 * (docs/backup.md "Capping the events topic").
 */
export function loadConfig(env: NodeJS.ProcessEnv, argv: string[]): BackupServiceConfig {
  if (argv.length > 0) throw new ConfigError('arguments', `unknown: ${argv.join(' ')} (the backup service takes none)`);
  const topicPrefix = env.AGENTSTATE_TOPIC_PREFIX ?? DEFAULT_TOPIC_PREFIX;
  const servers = !!env.KAFKA_BROKERS;
  const flag = (env.BACKUP_ENCRYPT ?? '').toLowerCase();
  if (!['', '0', '1', 'true', 'false'].includes(flag)) throw new ConfigError('BACKUP_ENCRYPT', `"${env.BACKUP_ENCRYPT}" is not 1, true, 0 or false`);
  const encrypt = flag === '1' || flag === 'true';
  if (encrypt && !env.AGENTSTATE_MASTER_KEYS && !env.AGENTSTATE_MASTER_KEYS_FILE) throw new ConfigError('BACKUP_ENCRYPT', 'needs AGENTSTATE_MASTER_KEYS or AGENTSTATE_MASTER_KEYS_FILE');
  const backupKeys = encrypt || !!env.AGENTSTATE_MASTER_KEYS || !!env.AGENTSTATE_MASTER_KEYS_FILE;
  const compression = (env.BACKUP_COMPRESSION ?? 'lz4') as CompressionAlgorithm;
  if (!COMPRESSION_ALGORITHMS.includes(compression)) throw new ConfigError('BACKUP_COMPRESSION', `"${compression}" is not one of ${COMPRESSION_ALGORITHMS.join(', ')}`);
  if (servers && int(env, 'BACKUP_DRILL_INTERVAL_MS', 0) > 0 && !env.MONGODB_URI) throw new ConfigError('BACKUP_DRILL_INTERVAL_MS', 'drills on servers need MONGODB_URI (the scratch database, and backup_drills)');
  return {
    profile: servers ? 'servers' : 'embedded',
    kafkaBrokers: servers
      ? env
          .KAFKA_BROKERS!.split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [],
    schemaRegistryUrl: env.SCHEMA_REGISTRY_URL || undefined,
    s3: servers
      ? {
          endpoint: required(env, 'S3_ENDPOINT'),
          bucket: required(env, 'S3_BUCKET'),
          ...(env.S3_ACCESS_KEY ? { accessKeyId: env.S3_ACCESS_KEY } : {}),
          ...(env.S3_SECRET_KEY ? { secretAccessKey: env.S3_SECRET_KEY } : {}),
        }
      : undefined,
    dataDir: resolve(env.AGENTSTATE_DATA_DIR || './.agentstate'),
    topicPrefix,
    group: env.AGENTSTATE_BACKUP_GROUP ?? backupGroup(topicPrefix),
    segmentMaxBytes: int(env, 'BACKUP_SEGMENT_MAX_BYTES', 8 * 1024 * 1024, 1),
    segmentMaxAgeMs: int(env, 'BACKUP_SEGMENT_MAX_AGE_MS', 30_000, 1),
    compression,
    tickMs: int(env, 'BACKUP_TICK_MS', 1000, 1),
    sessionTimeoutMs: int(env, 'BACKUP_SESSION_TIMEOUT_MS', 30_000, 1),
    metricsPort: int(env, 'METRICS_PORT', 9465),
    healthMaxRpoSeconds: int(env, 'BACKUP_HEALTH_MAX_RPO_S', 900, 1),
    encrypt,
    backupKeys,
    keysSyncMs: int(env, 'BACKUP_KEYS_SYNC_MS', 60_000, 1),
    metadataSyncMs: int(env, 'BACKUP_METADATA_SYNC_MS', 60_000, 1),
    pruneIntervalMs: int(env, 'BACKUP_PRUNE_INTERVAL_MS', 3_600_000),
    orphanGraceMs: int(env, 'BACKUP_ORPHAN_GRACE_MS', 86_400_000),
    checkpointIntervalMs: int(env, 'BACKUP_CHECKPOINT_INTERVAL_MS', DEFAULT_ARCHIVER_OPTIONS.checkpointIntervalMs),
    keepDays: int(env, 'BACKUP_KEEP_DAYS', DEFAULT_ARCHIVER_OPTIONS.keepDays),
    keepMonthly: int(env, 'BACKUP_KEEP_MONTHLY', DEFAULT_ARCHIVER_OPTIONS.keepMonthly),
    trimLogAfterMs: int(env, 'BACKUP_TRIM_LOG_AFTER_MS', DEFAULT_ARCHIVER_OPTIONS.trimLogAfterMs),
    catalogMongo: servers && env.MONGODB_URI ? { uri: env.MONGODB_URI, database: env.AGENTSTATE_MONGO_DATABASE ?? 'agentstate' } : undefined,
    drillIntervalMs: int(env, 'BACKUP_DRILL_INTERVAL_MS', 0),
    mongo: backupKeys && servers ? { uri: required(env, 'MONGODB_URI'), database: env.AGENTSTATE_MONGO_DATABASE ?? 'agentstate' } : undefined,
    logLevel: env.LOG_LEVEL ?? 'info',
  };
}
