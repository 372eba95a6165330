import { analyticsGroup, durationMs, type DetectorThresholds } from '../../src/analytics/index.js';
import { intVar as int } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import { readProfile, type ProfileConfig, type ServiceBaseConfig } from '../lib/service.js';

/** The analytics service's settings, read from the environment once at start-up. */
export interface AnalyticsServiceConfig extends ProfileConfig, ServiceBaseConfig {
  group: string;
  windows: Record<string, number> | undefined;
  thresholds: Partial<DetectorThresholds>;
  thresholdsByAgentType: Record<string, Partial<DetectorThresholds>>;
  publish: boolean;
  sessionTimeoutMs: number;
  maxBatchRecords: number;
  untilCaughtUp: boolean;
}

/**
 * Env: KAFKA_BROKERS (servers profile when set), SCHEMA_REGISTRY_URL,
 * MONGODB_URI and AGENTSTATE_MONGO_DATABASE (servers), AGENTSTATE_DATA_DIR
 * (embedded; default ./.agentstate), AGENTSTATE_TOPIC_PREFIX,
 * AGENTSTATE_ANALYTICS_GROUP (default `<prefix>analytics`), ANALYTICS_WINDOWS
 * (comma list of durations, default `1m,1h`), ANALYTICS_THRESHOLDS (JSON of
 * DetectorThresholds fields), ANALYTICS_THRESHOLDS_BY_TYPE (JSON: agent type
 * → fields), ANALYTICS_PUBLISH (0 = store anomalies only), ANALYTICS_SESSION_TIMEOUT_MS
 * (30000), ANALYTICS_MAX_BATCH (2000), METRICS_PORT (9466; 0 = off), LOG_LEVEL.
 * Args: --until-caught-up.
 */
export function loadConfig(env: NodeJS.ProcessEnv, argv: string[]): AnalyticsServiceConfig {
  const unknown = argv.filter((a) => a !== '--until-caught-up');
  if (unknown.length > 0) throw new ConfigError('arguments', `unknown: ${unknown.join(' ')} (only --until-caught-up)`);
  const profile = readProfile(env, 'the analytics service on the servers profile writes state_metrics to MongoDB');
  return {
    ...profile,
    group: env.AGENTSTATE_ANALYTICS_GROUP ?? analyticsGroup(profile.topicPrefix),
    windows: env.ANALYTICS_WINDOWS ? parseWindows(env.ANALYTICS_WINDOWS) : undefined,
    thresholds: json(env, 'ANALYTICS_THRESHOLDS') ?? {},
    thresholdsByAgentType: json(env, 'ANALYTICS_THRESHOLDS_BY_TYPE') ?? {},
    publish: env.ANALYTICS_PUBLISH !== '0',
    sessionTimeoutMs: int(env, 'ANALYTICS_SESSION_TIMEOUT_MS', 30_000),
    maxBatchRecords: Math.max(1, int(env, 'ANALYTICS_MAX_BATCH', 2000)),
    metricsPort: int(env, 'METRICS_PORT', 9466),
    logLevel: env.LOG_LEVEL ?? 'info',
    untilCaughtUp: argv.includes('--until-caught-up'),
  };
}

/** `1m,1h` → { '1m': 60000, '1h': 3600000 }. */
export function parseWindows(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const label of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const ms = durationMs(label);
    if (ms === undefined) throw new ConfigError('ANALYTICS_WINDOWS', `"${label}" is not a duration like 1m or 1h`);
    out[label] = ms;
  }
  if (Object.keys(out).length === 0) throw new ConfigError('ANALYTICS_WINDOWS', 'needs at least one window');
  return out;
}

function json<T>(env: NodeJS.ProcessEnv, name: string): T | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as T;
  } catch (err) {
    throw new ConfigError(name, `is not a JSON object: ${(err as Error).message}`);
  }
}
