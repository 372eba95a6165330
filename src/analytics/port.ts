import type { AccessWindow } from './access.js';
import type { AnomalyRecord, AnomalyType } from './anomaly.js';
import type { AgentCheckpoint, PartitionCheckpoint } from './fold.js';
import type { HostRecord } from './hosts.js';
import type { WindowAggregate } from './window.js';

/** What one batch writes, in this order, each write idempotent (replace by `_id`). */
export interface AnalyticsBatchWrite {
  windows: WindowAggregate[];
  anomalies: AnomalyRecord[];
  agents: AgentCheckpoint[];
  partition: PartitionCheckpoint;
}

export interface MetricsQuery {
  instanceIds?: string[];
  /** Window label, e.g. `1m`. */
  window: string;
  /** Window start at or after (ms). */
  from?: number;
  /** Window start before (ms). */
  to?: number;
}

export interface AnomalyQuery {
  instanceId?: string;
  type?: AnomalyType;
  status?: 'active' | 'resolved';
  /** Last seen at or after (ms, log time). */
  since?: number;
  /** First seen before (ms). */
  until?: number;
  /** @default 1000 */
  limit?: number;
}

/** An agent as analytics last saw it (for `agentstate top` and usage statistics). */
export interface AgentSummary {
  instanceId: string;
  agentType: string | null;
  size: number;
  version: number;
  lastEventAt: number | null;
  activeAnomalies: AnomalyType[];
}

/**
 * Where analytics keeps its outputs: `state_metrics` (window aggregates),
 * `state_anomalies`, and its own checkpoints (`analytics_agents`,
 * `analytics_partitions`) and the runtime hosts' latest heartbeats (`analytics_hosts`). Adapters: MongoDB (`src/store/mongo/analytics.ts`)
 * and SQLite (`src/store/sqlite/analytics.ts`).
 */
export interface AnalyticsStore {
  /** Creates tables / indexes. Idempotent. */
  setup(): Promise<void>;
  /** The checkpoints of one partition (what a consumer resumes from). */
  loadPartition(partition: number): Promise<{ partition: PartitionCheckpoint | undefined; agents: AgentCheckpoint[] }>;
  /** Windows and anomalies, then agent checkpoints, then the partition checkpoint: a crash between leaves older checkpoints, so the records are folded again and rewrite the same documents. */
  writeBatch(batch: AnalyticsBatchWrite): Promise<void>;
  metrics(query: MetricsQuery): Promise<WindowAggregate[]>;
  anomalies(query: AnomalyQuery): Promise<AnomalyRecord[]>;
  agents(): Promise<AgentSummary[]>;
  /** Replaces access windows (by `_id`), in `state_metrics` under their `access:<label>` label. */
  writeAccess(windows: AccessWindow[]): Promise<void>;
  /** Access windows of `query.window` (the plain label, e.g. `1h`), by agent then start. */
  access(query: MetricsQuery): Promise<AccessWindow[]>;
  /** Replaces the hosts' latest heartbeats (`analytics_hosts`, by nodeId). */
  writeHosts(hosts: HostRecord[]): Promise<void>;
  /** Every runtime host analytics has heard from, with its latest heartbeat. */
  hosts(): Promise<HostRecord[]>;
  /** Retention: deletes windows of `window` that ended before `before`; returns how many. */
  deleteWindowsBefore(window: string, before: number): Promise<number>;
  /** Drops every analytics output and checkpoint (a rebuild from the log follows). */
  clear(): Promise<void>;
  /** Safe to call twice; never closes a connection the caller passed in. */
  close(): Promise<void>;
}

export function summarize(a: AgentCheckpoint): AgentSummary {
  return {
    instanceId: a.instanceId,
    agentType: a.agentType,
    size: a.size,
    version: a.head?.version ?? 0,
    lastEventAt: a.clock,
    activeAnomalies: Object.keys(a.det.active) as AnomalyType[],
  };
}
