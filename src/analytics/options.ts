import { ConfigError } from '../errors.js';
import { DEFAULT_TOPIC_PREFIX } from '../log/topics.js';

/**
 * Detector thresholds (docs/analytics.md, Detectors). Times are log time
 * (event timestamps), never the wall clock, so a replay of the same log
 * flags the same anomalies (DESIGN.md, Replay).
 */
export interface DetectorThresholds {
  /** Loop: the same (index-normalised) changeset this many times in a row. @default 5 */
  loopRepeats: number;
  /** Loop: a cycle of period 1-4 in the state checksums repeated this many times (A→B→A→B = period 2). @default 3 */
  loopCycles: number;
  /** Runaway growth: how many recent events the growth is measured over. @default 20 */
  growthWindowEvents: number;
  /** Runaway growth: net growth over the window needed to flag, bytes. @default 32768 */
  growthMinBytes: number;
  /** Runaway growth: robust z-score of the recent mean growth against the agent's baseline. @default 6 */
  growthZ: number;
  /** Runaway growth: a state estimated larger than this is flagged whatever its history, bytes. @default 16777216 */
  sizeHardCapBytes: number;
  /** Error burst: this many errors (error_occurred, task_failed) within the window... @default 5 */
  errorBurstCount: number;
  /** ...making at least this share of the window's events. @default 0.3 */
  errorBurstShare: number;
  /** @default 10000 */
  errorBurstWindowMs: number;
  /** Flapping: this many `status_changed` events alternating between two statuses within the window. @default 6 */
  flapCount: number;
  /** @default 15000 */
  flapWindowMs: number;
  /** Velocity: inter-arrival gaps kept as the agent's baseline before spikes and stalls are judged. @default 20 */
  baselineMinSamples: number;
  /** Spike: median of the last 8 gaps below baseline median / this. @default 4 */
  spikeRatio: number;
  /** Stall: silent for more than this many baseline median gaps... @default 10 */
  stallFactor: number;
  /** ...and at least this long. @default 3000 */
  stallMinMs: number;
  /** Fencing storm: ownership changes plus fenced (stale or unacquired epoch) writes within the window. @default 6 */
  fencingCount: number;
  /** @default 10000 */
  fencingWindowMs: number;
  /** Stuck task: a task assigned and not finished after this long while the agent keeps writing. @default 300000 */
  stuckTaskMs: number;
}

export const DEFAULT_THRESHOLDS: Readonly<DetectorThresholds> = Object.freeze({
  loopRepeats: 5,
  loopCycles: 3,
  growthWindowEvents: 20,
  growthMinBytes: 32_768,
  growthZ: 6,
  sizeHardCapBytes: 16 * 1024 * 1024,
  errorBurstCount: 5,
  errorBurstShare: 0.3,
  errorBurstWindowMs: 10_000,
  flapCount: 6,
  flapWindowMs: 15_000,
  baselineMinSamples: 20,
  spikeRatio: 4,
  stallFactor: 10,
  stallMinMs: 3_000,
  fencingCount: 6,
  fencingWindowMs: 10_000,
  stuckTaskMs: 300_000,
});

/**
 * What the analytics consumer applies for each AnalyticsConsumerOptions field
 * not given (src/analytics/consumer.ts; its `@default` tags say the same,
 * test/unit/config/defaults.unit.test.ts checks).
 */
export const DEFAULT_ANALYTICS_CONSUMER_OPTIONS: Readonly<{ topicPrefix: string; maxBatchRecords: number; sessionTimeoutMs: number; retryWindowMs: number; restartDelayMs: number; retentionEveryMs: number }> =
  Object.freeze({
    topicPrefix: DEFAULT_TOPIC_PREFIX,
    maxBatchRecords: 2000,
    sessionTimeoutMs: 30_000,
    retryWindowMs: 60_000,
    restartDelayMs: 1000,
    retentionEveryMs: 60_000,
  });

/** What StateAnalyticsService applies for each AnalyticsServiceOptions field not given (src/analytics/service.ts). */
export const DEFAULT_ANALYTICS_SERVICE_OPTIONS: Readonly<{ window: string; now: () => number }> = Object.freeze({ window: '1h', now: Date.now });

/** Window sizes by label: tumbling, aligned to the epoch. */
export const DEFAULT_WINDOWS: Readonly<Record<string, number>> = Object.freeze({ '1m': 60_000, '1h': 3_600_000 });

/** What the analytics consumer and its detectors are tuned by (no I/O here: `AnalyticsConsumerOptions` adds the ports). */
export interface AnalyticsSettings {
  /** Tumbling windows, label → length in ms. @default { '1m': 60000, '1h': 3600000 } */
  windows: Record<string, number>;
  /** Window documents older than this (by window end, log time) are deleted, per label. @default { '1m': 7 days, '1h': 90 days } */
  retentionMs: Record<string, number>;
  /** Fleet-wide thresholds. @default DEFAULT_THRESHOLDS */
  thresholds: DetectorThresholds;
  /** Overrides per agent type (the state's `agentType`). @default {} */
  thresholdsByAgentType: Record<string, Partial<DetectorThresholds>>;
}

export function resolveSettings(s: Partial<Omit<AnalyticsSettings, 'thresholds'>> & { thresholds?: Partial<DetectorThresholds> } = {}): AnalyticsSettings {
  const windows = s.windows ?? { ...DEFAULT_WINDOWS };
  for (const [label, ms] of Object.entries(windows)) {
    if (!/^[0-9a-z]+$/.test(label)) throw new ConfigError('windows', `label "${label}" may only hold digits and lower-case letters`);
    if (!Number.isInteger(ms) || ms < 1000) throw new ConfigError('windows', `${label}: ${ms} ms is not an integer of at least 1000`);
  }
  const retentionMs = { ...Object.fromEntries(Object.entries(windows).map(([l, ms]) => [l, Math.max(7 * 86_400_000, ms * 2160)])), ...s.retentionMs };
  const thresholds = { ...DEFAULT_THRESHOLDS, ...s.thresholds };
  for (const [k, v] of Object.entries(thresholds)) if (!Number.isFinite(v) || v <= 0) throw new ConfigError(`thresholds.${k}`, `${v} is not a positive number`);
  return { windows, retentionMs, thresholds, thresholdsByAgentType: s.thresholdsByAgentType ?? {} };
}

/** The thresholds an agent of `agentType` is judged by. */
export function thresholdsFor(settings: AnalyticsSettings, agentType: string | undefined): DetectorThresholds {
  const o = agentType === undefined ? undefined : settings.thresholdsByAgentType[agentType];
  return o ? { ...settings.thresholds, ...o } : settings.thresholds;
}

/** Parses `1m`, `10s`, `1h`, `2d` into ms; undefined when it is not one. */
export function durationMs(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}
