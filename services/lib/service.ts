import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { readEnv, type KafkaSettings, type MongoSettings, type S3Settings } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import type { StoreLocation } from '../../src/sdk/log-check.js';
import { MetricsRegistry } from '../../src/telemetry/metrics.js';
import { serveMetricsAndHealth, serviceLogger, stopOnSignals, type HealthReport } from './process.js';

/** The settings every service reads the same way. */
export interface ServiceBaseConfig {
  /** 0 disables /metrics and /health. */
  metricsPort: number;
  logLevel: string;
}

/** A service that runs on both profiles: Kafka + MongoDB when KAFKA_BROKERS is set, else the embedded files. */
export interface ProfileConfig {
  /** servers when KAFKA_BROKERS is set (then MONGODB_URI is required), else embedded. */
  profile: 'servers' | 'embedded';
  kafka: KafkaSettings | undefined;
  mongo: MongoSettings | undefined;
  /** S3_ENDPOINT/S3_BUCKET when set: where claim-checked changesets are fetched on the servers profile. */
  s3: S3Settings | undefined;
  dataDir: string;
  topicPrefix: string;
}

/**
 * Reads the profile settings: KAFKA_BROKERS (servers when set; then
 * MONGODB_URI is required, `mongoNeededFor` says why), AGENTSTATE_DATA_DIR
 * (embedded; default ./.agentstate), AGENTSTATE_TOPIC_PREFIX.
 * @throws ConfigError naming the variable
 */
export function readProfile(env: NodeJS.ProcessEnv, mongoNeededFor: string): ProfileConfig {
  const shared = readEnv(env);
  const servers = shared.kafka !== undefined;
  if (servers && !shared.mongo) throw new ConfigError('MONGODB_URI', mongoNeededFor);
  return {
    profile: servers ? 'servers' : 'embedded',
    kafka: shared.kafka,
    mongo: shared.mongo,
    s3: shared.s3,
    dataDir: resolve(env.AGENTSTATE_DATA_DIR || './.agentstate'),
    topicPrefix: shared.topicPrefix,
  };
}

/** Where the profile's state store is: MongoDB on the servers, store.sqlite in the data dir embedded. */
export function storeLocation(profile: ProfileConfig): StoreLocation {
  return profile.profile === 'servers' ? { kind: 'servers', mongo: profile.mongo! } : { kind: 'embedded', dataDir: profile.dataDir };
}

/** What a service's wiring hands back to {@link runService}. */
export interface ServiceParts {
  /** The work: returns once `stop` aborts (or, for a run until caught up, when done). */
  run(stop: AbortSignal): Promise<void>;
  /** What `/health` answers. @default 200 `{"status":"ok"}` */
  health?: () => Promise<HealthReport>;
  /** What the service does once SIGTERM/SIGINT arrives, for the log line. */
  onStop: string;
  /** Fields of the "<name> started" line. */
  started: Record<string, unknown>;
  /** Closes what the wiring opened; runs after `run`, whatever happened. Must not throw. */
  close(): Promise<void>;
}

/**
 * One process bootstrap for every `services/*` entry (DESIGN.md The shape):
 * config from the environment once, a redacting logger, a metrics registry,
 * `/metrics` + `/health`, stop on SIGTERM/SIGINT, close in `finally`, exit 0
 * on a clean stop and 1 (with one fatal line) on any failure. The wiring
 * (which log, store, codec, service) stays in each service's main.ts.
 */
export function runService<C extends ServiceBaseConfig>(
  name: string,
  help: Record<string, string>,
  loadConfig: (env: NodeJS.ProcessEnv, argv: string[]) => C,
  wire: (config: C, logger: Logger, metrics: MetricsRegistry) => Promise<ServiceParts>,
): void {
  const main = async (): Promise<number> => {
    const config = loadConfig(process.env, process.argv.slice(2));
    const logger = serviceLogger(name, config.logLevel);
    const metrics = new MetricsRegistry(help);
    const parts = await wire(config, logger, metrics);
    const server = await serveMetricsAndHealth(config.metricsPort, metrics, parts.health);
    const stop = stopOnSignals(logger, parts.onStop);
    logger.info(parts.started, `${name} started`);
    try {
      await parts.run(stop);
    } finally {
      server?.close();
      await parts.close();
    }
    logger.info(`${name} stopped`);
    return 0;
  };
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      serviceLogger(name).fatal({ err }, `${name} failed`);
      process.exit(1);
    },
  );
}
