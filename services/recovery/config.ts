import { intVar as int } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import { recoveryGroup } from '../../src/recovery/index.js';
import { readProfile, type ProfileConfig, type ServiceBaseConfig } from '../lib/service.js';

/** The recovery service's settings, read from the environment once at start-up. */
export interface RecoveryServiceConfig extends ProfileConfig, ServiceBaseConfig {
  group: string;
  instance: string | undefined;
  phiThreshold: number;
  tickMs: number;
  servingTimeoutMs: number;
  leaseMs: number;
  sessionTimeoutMs: number;
}

/**
 * Env: KAFKA_BROKERS (servers profile when set), SCHEMA_REGISTRY_URL,
 * MONGODB_URI + AGENTSTATE_MONGO_DATABASE (servers), AGENTSTATE_DATA_DIR
 * (embedded; default ./.agentstate), AGENTSTATE_TOPIC_PREFIX,
 * AGENTSTATE_RECOVERY_GROUP (default `<prefix>recovery`),
 * RECOVERY_INSTANCE (names this instance in records; default random),
 * RECOVERY_PHI_THRESHOLD (8), RECOVERY_TICK_MS (100),
 * RECOVERY_SERVING_TIMEOUT_MS (10000), RECOVERY_LEASE_MS (15000),
 * RECOVERY_SESSION_TIMEOUT_MS (10000), METRICS_PORT (9466; 0 = off), LOG_LEVEL.
 */
export function loadConfig(env: NodeJS.ProcessEnv, argv: string[]): RecoveryServiceConfig {
  if (argv.length > 0) throw new ConfigError('arguments', `unknown: ${argv.join(' ')} (the recovery service takes none)`);
  const base = readProfile(env, 'is required on the servers profile (recovery_records)');
  const phi = Number(env.RECOVERY_PHI_THRESHOLD ?? '8');
  if (!Number.isFinite(phi) || phi <= 0) throw new ConfigError('RECOVERY_PHI_THRESHOLD', `"${env.RECOVERY_PHI_THRESHOLD}" is not a positive number`);
  return {
    ...base,
    group: env.AGENTSTATE_RECOVERY_GROUP || recoveryGroup(base.topicPrefix),
    instance: env.RECOVERY_INSTANCE || undefined,
    phiThreshold: phi,
    tickMs: Math.max(10, int(env, 'RECOVERY_TICK_MS', 100)),
    servingTimeoutMs: Math.max(100, int(env, 'RECOVERY_SERVING_TIMEOUT_MS', 10_000)),
    leaseMs: Math.max(1000, int(env, 'RECOVERY_LEASE_MS', 15_000)),
    sessionTimeoutMs: Math.max(1000, int(env, 'RECOVERY_SESSION_TIMEOUT_MS', 10_000)),
    metricsPort: int(env, 'METRICS_PORT', 9466),
    logLevel: env.LOG_LEVEL ?? 'info',
  };
}
