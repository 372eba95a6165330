import type { AnomalyType } from './anomaly.js';
import type { AgentStorage } from './storage.js';

/*
 * What StateAnalyticsService answers (the seed's result shapes, and ours
 * where the seed names none): service.ts computes them.
 */

/** The seed's TimeRange: epoch ms or Dates, end exclusive. */
export interface TimeRange {
  start: number | Date;
  end: number | Date;
}

/** The seed's StateMetrics, from the windows inside the range (docs/analytics.md). A figure nothing measured in the range is null. */
export interface StateMetrics {
  instanceId: string;
  timeRange: { start: number; end: number };
  /** Accepted events per hour. */
  updateFrequency: number;
  /** Bytes per hour (estimated canonical JSON size). */
  sizeGrowthRate: number;
  /**
   * The codec's compression of the agent's snapshots taken in the range (by
   * the time of their state): raw bytes (the canonical JSON the frame holds)
   * over stored bytes, summed over them; > 1 means the codec saved space.
   * Null without the state store (`storage` option) or when no snapshot falls
   * in the range.
   */
  compressionRatio: number | null;
  /** The snapshot encodings `compressionRatio` sums: how many, their raw and stored bytes. */
  compression: { encodings: number; originalBytes: number; storedBytes: number };
  /** Event-type mix: how the state is written. */
  accessPatterns: Array<{ eventType: string; count: number; share: number }>;
  /**
   * Read and write times (ms) and the cache hit rate from the access figures
   * the runtime hosts' heartbeats carry (docs/analytics.md, Access figures);
   * each null when nothing was measured in the range.
   */
  performanceMetrics: { averageReadTime: number | null; averageWriteTime: number | null; cacheHitRate: number | null; errorRate: number };
  /** How many reads, cache hits and misses, and acknowledged writes the access figures hold. */
  access: { reads: number; cacheHits: number; cacheMisses: number; writes: number };
  events: number;
  stateBytes: number;
  changesetBytes: number;
  taskCompletionRate: number | null;
  averageExecutionTime: number | null;
  writesRejected: number;
  windows: number;
}

export interface StateTrend {
  instanceId: string;
  points: Array<{ at: number; events: number; stateBytes: number; errors: number }>;
  /** Least-squares slope of the state size, bytes per hour. */
  sizeSlope: number;
  /** Least-squares slope of events per window, per hour. */
  activitySlope: number;
  direction: 'growing' | 'shrinking' | 'stable';
}

export interface PerformanceAnalysis {
  instanceId: string;
  window: string;
  taskCompletionRate: number | null;
  averageExecutionTime: number | null;
  errorRate: number;
  updateFrequency: number;
  writesRejected: number;
  /** From the access figures (ms, share); null when nothing was measured. */
  averageReadTime: number | null;
  averageWriteTime: number | null;
  cacheHitRate: number | null;
  activeAnomalies: AnomalyType[];
  /** Plain findings, e.g. "error rate 42% (fleet median 3%)". */
  issues: string[];
}

export interface PerformanceComparison {
  agents: PerformanceAnalysis[];
  /** Best first: highest completion rate, then lowest error rate. */
  ranking: string[];
}

export interface UsageStatistics {
  timeRange: { start: number; end: number };
  agents: number;
  events: number;
  eventTypes: Record<string, number>;
  byAgentType: Record<string, { agents: number; events: number }>;
  busiest: Array<{ instanceId: string; events: number }>;
}

export interface StorageAnalysis {
  agents: number;
  /** Estimated canonical JSON bytes of all current states. */
  stateBytes: number;
  /** Changeset bytes written to the log in the retained hourly windows. */
  logChangesetBytes: number;
  /** Bytes of the events records on the log (key + headers + value) in the retained windows. */
  logBytes: number;
  largest: Array<{ instanceId: string; stateBytes: number }>;
  byAgentType: Record<string, { agents: number; stateBytes: number }>;
  /**
   * The agents asked for, one by one, when the service was given the state
   * store (and blob store): their bytes in the log windows, the store, the
   * snapshot blobs and the backup ({@link AgentStorage}). Empty otherwise.
   */
  perAgent: AgentStorageAnalysis[];
}

/** One agent's bytes, everywhere agentstate keeps them (docs/analytics.md, Storage). */
export interface AgentStorageAnalysis extends AgentStorage {
  /** Estimated canonical JSON bytes of the current state, as analytics folds it. Null when analytics has not seen the agent. */
  stateBytesEstimated: number | null;
  /** Changeset bytes (paths and values) of the agent's events in the retained windows: the payload part of its records. */
  logChangesetBytes: number;
  /**
   * The agent's bytes in Kafka: its events records' key + headers + value, as
   * the consumer read them, refused records included, in the retained windows
   * (windows written before this figure existed count 0). Kafka's own record
   * and batch framing and replication are not counted.
   */
  logBytes: number;
}

export interface AnomalyTrend {
  type: AnomalyType;
  /** Anomalies first seen per hour bucket (bucket start → count). */
  perHour: Record<string, number>;
  total: number;
  active: number;
  /** Mean duration of the resolved ones, ms; null when none resolved. */
  meanDurationMs: number | null;
  agents: number;
}
