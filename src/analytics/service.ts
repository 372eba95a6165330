import { InvalidInputError } from '../domain/index.js';
import type { BodyEncoding } from '../codec/state-body.js';
import { accessFigures, type AccessWindow } from './access.js';
import { ANOMALY_TYPES, type AnomalyRecord } from './anomaly.js';
import type { BlobStore } from '../blob/port.js';
import type { StateStore } from '../store/port.js';
import type { AgentSummary, AnalyticsStore } from './port.js';
import { agentStorage } from './storage.js';
import { figures, type WindowAggregate } from './window.js';
import { DEFAULT_ANALYTICS_SERVICE_OPTIONS } from './options.js';
import type { AgentStorageAnalysis, AnomalyTrend, PerformanceAnalysis, PerformanceComparison, StateMetrics, StateTrend, StorageAnalysis, TimeRange, UsageStatistics } from './results.js';

export type { AgentStorageAnalysis, AnomalyTrend, PerformanceAnalysis, PerformanceComparison, StateMetrics, StateTrend, StorageAnalysis, TimeRange, UsageStatistics } from './results.js';

const HOUR = 3_600_000;

export interface AnalyticsServiceOptions {
  /** The window label figures are read from. @default '1h' */
  window?: string;
  /** Clock (tests). @default Date.now */
  now?: () => number;
  /** Where the per-agent storage figures are read (the state store, and the blob store of snapshots and backups). */
  storage?: { store: StateStore; blobs?: BlobStore };
}

/**
 * The seed's `StateAnalyticsService`, answered from the analytics store (the
 * consumer's windows, anomalies and agent checkpoints): nothing here reads
 * the log or a state.
 */
export class StateAnalyticsService {
  private readonly options: AnalyticsServiceOptions & typeof DEFAULT_ANALYTICS_SERVICE_OPTIONS;

  constructor(
    private readonly store: AnalyticsStore,
    options: AnalyticsServiceOptions = {},
  ) {
    this.options = { ...DEFAULT_ANALYTICS_SERVICE_OPTIONS, ...options };
  }

  private get window(): string {
    return this.options.window;
  }

  async getStateMetrics(instanceId: string, timeRange: TimeRange, window = this.window): Promise<StateMetrics> {
    const range = toRange(timeRange);
    const q = { instanceIds: [instanceId], window, from: range.start, to: range.end };
    const [ws, access, encodings] = await Promise.all([this.store.metrics(q), this.store.access(q), this.encodings(instanceId, range)]);
    return metricsOf(instanceId, range, ws, access, encodings);
  }

  /** The encodings of the agent's snapshots in the range (`state_snapshots`, from the state store); none without it. */
  private async encodings(instanceId: string, range: { start: number; end: number }): Promise<BodyEncoding[]> {
    const store = this.options.storage?.store;
    if (!store) return [];
    return (await store.listSnapshots(instanceId)).filter((s) => s.stateTimestamp >= range.start && s.stateTimestamp < range.end).map((s) => s.encoding);
  }

  async getStateTrends(instanceIds: string[], timeRange: TimeRange, window = this.window): Promise<StateTrend[]> {
    const range = toRange(timeRange);
    const ws = await this.store.metrics({ instanceIds, window, from: range.start, to: range.end });
    return instanceIds.map((id) => {
      const mine = ws.filter((w) => w.instanceId === id);
      const points = mine.map((w) => ({ at: w.windowStart, events: w.events, stateBytes: w.sizeEnd, errors: w.errors }));
      const sizeSlope = slope(points.map((p) => [p.at / HOUR, p.stateBytes]));
      const activitySlope = slope(points.map((p) => [p.at / HOUR, p.events]));
      const scale = Math.max(1, ...points.map((p) => p.stateBytes)) * 0.01;
      return { instanceId: id, points, sizeSlope, activitySlope, direction: sizeSlope > scale ? 'growing' : sizeSlope < -scale ? 'shrinking' : 'stable' };
    });
  }

  async analyzeStatePerformance(instanceId: string): Promise<PerformanceAnalysis> {
    return (await this.compareStatePerformance([instanceId])).agents[0]!;
  }

  /** Each agent over the last 24 h (log time of its own latest window), judged against the others and the fleet. */
  async compareStatePerformance(instanceIds: string[]): Promise<PerformanceComparison> {
    if (instanceIds.length === 0) throw new InvalidInputError('instanceIds', 'at least one agent');
    const summaries = new Map((await this.store.agents()).map((a) => [a.instanceId, a]));
    const agents: PerformanceAnalysis[] = [];
    for (const id of instanceIds) {
      const end = (summaries.get(id)?.lastEventAt ?? this.now()) + 1;
      const q = { instanceIds: [id], window: this.window, from: end - 25 * HOUR, to: end };
      const m = metricsOf(id, { start: end - 24 * HOUR, end }, await this.store.metrics(q), await this.store.access(q));
      const issues: string[] = [];
      if (m.performanceMetrics.errorRate > 0.2) issues.push(`error rate ${(m.performanceMetrics.errorRate * 100).toFixed(0)}%`);
      if (m.taskCompletionRate !== null && m.taskCompletionRate < 0.5) issues.push(`task completion rate ${(m.taskCompletionRate * 100).toFixed(0)}%`);
      if (m.writesRejected > 0) issues.push(`${m.writesRejected} writes rejected by the log`);
      const active = summaries.get(id)?.activeAnomalies ?? [];
      for (const a of active) issues.push(`active anomaly: ${a}`);
      agents.push({
        instanceId: id,
        window: this.window,
        taskCompletionRate: m.taskCompletionRate,
        averageExecutionTime: m.averageExecutionTime,
        errorRate: m.performanceMetrics.errorRate,
        updateFrequency: m.updateFrequency,
        writesRejected: m.writesRejected,
        averageReadTime: m.performanceMetrics.averageReadTime,
        averageWriteTime: m.performanceMetrics.averageWriteTime,
        cacheHitRate: m.performanceMetrics.cacheHitRate,
        activeAnomalies: active,
        issues,
      });
    }
    const ranking = [...agents].sort((a, b) => (b.taskCompletionRate ?? -1) - (a.taskCompletionRate ?? -1) || a.errorRate - b.errorRate || a.instanceId.localeCompare(b.instanceId)).map((a) => a.instanceId);
    return { agents, ranking };
  }

  async getStateUsageStatistics(timeRange: TimeRange, window = this.window): Promise<UsageStatistics> {
    const range = toRange(timeRange);
    const ws = await this.store.metrics({ window, from: range.start, to: range.end });
    const perAgent = new Map<string, { events: number; agentType: string | null }>();
    const eventTypes: Record<string, number> = {};
    let events = 0;
    for (const w of ws) {
      events += w.events;
      const a = perAgent.get(w.instanceId) ?? { events: 0, agentType: w.agentType };
      a.events += w.events;
      perAgent.set(w.instanceId, a);
      for (const [t, n] of Object.entries(w.eventTypes)) eventTypes[t] = (eventTypes[t] ?? 0) + n;
    }
    const byAgentType: UsageStatistics['byAgentType'] = {};
    for (const a of perAgent.values()) {
      const k = a.agentType ?? 'unknown';
      byAgentType[k] = { agents: (byAgentType[k]?.agents ?? 0) + 1, events: (byAgentType[k]?.events ?? 0) + a.events };
    }
    const busiest = [...perAgent]
      .map(([instanceId, a]) => ({ instanceId, events: a.events }))
      .sort((a, b) => b.events - a.events || a.instanceId.localeCompare(b.instanceId))
      .slice(0, 10);
    return { timeRange: range, agents: perAgent.size, events, eventTypes, byAgentType, busiest };
  }

  /** The fleet from analytics' own figures; with `instanceIds` and the storage sources, those agents' bytes in each store too. */
  async analyzeStorageUtilization(instanceIds: readonly string[] = []): Promise<StorageAnalysis> {
    const agents = await this.store.agents();
    const ws = await this.store.metrics({ window: this.window });
    const perAgent: AgentStorageAnalysis[] = [];
    const storage = this.options.storage;
    if (storage) {
      const sizes = new Map(agents.map((a) => [a.instanceId, a.size]));
      for (const id of instanceIds) {
        const mine = ws.filter((w) => w.instanceId === id);
        perAgent.push({
          ...(await agentStorage(id, storage)),
          stateBytesEstimated: sizes.get(id) ?? null,
          logChangesetBytes: mine.reduce((t, w) => t + w.changesetBytes, 0),
          logBytes: mine.reduce((t, w) => t + (w.logBytes ?? 0), 0),
        });
      }
    }
    const byAgentType: StorageAnalysis['byAgentType'] = {};
    for (const a of agents) {
      const k = a.agentType ?? 'unknown';
      byAgentType[k] = { agents: (byAgentType[k]?.agents ?? 0) + 1, stateBytes: (byAgentType[k]?.stateBytes ?? 0) + a.size };
    }
    return {
      agents: agents.length,
      stateBytes: agents.reduce((t, a) => t + a.size, 0),
      logChangesetBytes: ws.reduce((t, w) => t + w.changesetBytes, 0),
      logBytes: ws.reduce((t, w) => t + (w.logBytes ?? 0), 0),
      largest: largest(agents, 10),
      byAgentType,
      perAgent,
    };
  }

  /** The agent's anomalies: the active ones, then the resolved ones, newest first. */
  async detectStateAnomalies(instanceId: string): Promise<AnomalyRecord[]> {
    const all = await this.store.anomalies({ instanceId });
    return [...all.filter((a) => a.status === 'active'), ...all.filter((a) => a.status !== 'active')];
  }

  async analyzeAnomalyTrends(timeRange: TimeRange): Promise<AnomalyTrend[]> {
    const range = toRange(timeRange);
    const all = await this.store.anomalies({ since: range.start, until: range.end, limit: 100_000 });
    return ANOMALY_TYPES.map((type) => {
      const mine = all.filter((a) => a.type === type);
      const perHour: Record<string, number> = {};
      for (const a of mine) {
        const h = String(Math.floor(a.firstSeenAt / HOUR) * HOUR);
        perHour[h] = (perHour[h] ?? 0) + 1;
      }
      const resolved = mine.filter((a) => a.resolvedAt !== null);
      return {
        type,
        perHour,
        total: mine.length,
        active: mine.length - resolved.length,
        meanDurationMs: resolved.length === 0 ? null : resolved.reduce((t, a) => t + (a.resolvedAt! - a.firstSeenAt), 0) / resolved.length,
        agents: new Set(mine.map((a) => a.instanceId)).size,
      };
    });
  }

  private now(): number {
    return this.options.now();
  }
}

/** The seed's StateMetrics over a set of windows of one agent (and its access windows and codec encodings in the range). */
export function metricsOf(instanceId: string, range: { start: number; end: number }, ws: readonly WindowAggregate[], access: readonly AccessWindow[] = [], encodings: readonly BodyEncoding[] = []): StateMetrics {
  const t = { events: 0, errors: 0, completed: 0, failed: 0, execMs: 0, execN: 0, changesetBytes: 0, rejected: 0 };
  const types: Record<string, number> = {};
  for (const w of ws) {
    t.events += w.events;
    t.errors += w.errors;
    t.completed += w.tasksCompleted;
    t.failed += w.tasksFailed;
    t.execMs += w.executionMsTotal;
    t.execN += w.executionCount;
    t.changesetBytes += w.changesetBytes;
    t.rejected += w.writesRejected;
    for (const [k, n] of Object.entries(w.eventTypes)) types[k] = (types[k] ?? 0) + n;
  }
  const first = ws[0];
  const last = ws.at(-1);
  const span = first && last ? { windowStart: first.windowStart, windowEnd: last.windowEnd } : { windowStart: range.start, windowEnd: range.end };
  const f = figures({
    ...span,
    events: t.events,
    sizeStart: first?.sizeStart ?? 0,
    sizeEnd: last?.sizeEnd ?? 0,
    errors: t.errors,
    tasksCompleted: t.completed,
    tasksFailed: t.failed,
    executionMsTotal: t.execMs,
    executionCount: t.execN,
    changesetBytes: t.changesetBytes,
  });
  const a = accessFigures(access);
  const compression = { encodings: encodings.length, originalBytes: 0, storedBytes: 0 };
  for (const e of encodings) {
    compression.originalBytes += e.originalSize;
    compression.storedBytes += e.storedSize;
  }
  return {
    instanceId,
    timeRange: range,
    updateFrequency: f.updateFrequency,
    sizeGrowthRate: f.sizeGrowthRate,
    compressionRatio: compression.storedBytes === 0 ? null : compression.originalBytes / compression.storedBytes,
    compression,
    accessPatterns: Object.entries(types)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([eventType, count]) => ({ eventType, count, share: t.events === 0 ? 0 : count / t.events })),
    performanceMetrics: { averageReadTime: a.averageReadTime, averageWriteTime: a.averageWriteTime, cacheHitRate: a.cacheHitRate, errorRate: f.errorRate },
    access: { reads: a.reads, cacheHits: a.cacheHits, cacheMisses: a.cacheMisses, writes: a.writes },
    events: t.events,
    stateBytes: last?.sizeEnd ?? 0,
    changesetBytes: t.changesetBytes,
    taskCompletionRate: f.taskCompletionRate,
    averageExecutionTime: f.averageExecutionTime,
    writesRejected: t.rejected,
    windows: ws.length,
  };
}

function toRange(r: TimeRange): { start: number; end: number } {
  const start = typeof r.start === 'number' ? r.start : r.start.getTime();
  const end = typeof r.end === 'number' ? r.end : r.end.getTime();
  if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) throw new InvalidInputError('timeRange', `${start}..${end} is not a range`);
  return { start, end };
}

function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((t, p) => t + p[0], 0) / n;
  const my = points.reduce((t, p) => t + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function largest(agents: readonly AgentSummary[], n: number): Array<{ instanceId: string; stateBytes: number }> {
  return [...agents]
    .sort((a, b) => b.size - a.size || a.instanceId.localeCompare(b.instanceId))
    .slice(0, n)
    .map((a) => ({ instanceId: a.instanceId, stateBytes: a.size }));
}
