import type { Logger } from 'pino';
import type { ConsumedBatch, EventLog } from '../log/port.js';
import { analyticsGroup, topicNames, type TopicNames } from '../log/topics.js';
import { NO_METRICS, type Metrics } from '../telemetry/metrics.js';
import { retrying, runWithRestarts, sleep } from '../util/retry.js';
import type { RuntimeWire } from '../runtime/wire.js';
import type { NodeHeartbeat } from '../runtime/types.js';
import { accessLabel, accessWindowId, addAccess, emptyAccessWindow, type AccessWindow } from './access.js';
import { parseFact, scanFact, type BodyReader, type ChangesetResolver, type FactReading } from './fact.js';
import { PartitionFold } from './fold.js';
import { hostRecord, newer, type HostRecord } from './hosts.js';
import { DEFAULT_ANALYTICS_CONSUMER_OPTIONS, resolveSettings, type AnalyticsSettings, type DetectorThresholds } from './options.js';
import { positiveInt } from '../util/options.js';
import type { AnalyticsStore } from './port.js';
import type { AnomalyPublisher } from './publish.js';

export { analyticsGroup } from '../log/topics.js';

export interface AnalyticsConsumerOptions {
  log: EventLog;
  store: AnalyticsStore;
  /** Record value → decoded record (see `bodyReader`: Avro through the registry, or JSON). */
  read: BodyReader;
  /**
   * Fetches and verifies claim-checked changesets (the profile's blob store,
   * as the projector does: the codec `openLog` returns). Without it a
   * claim-checked record fails the batch with AS_CONFIG (retried, then the
   * consumer restarts), as it does every reader with no blob store.
   * @default none
   */
  changesets?: ChangesetResolver;
  /**
   * Reads the runtime hosts' heartbeats from `<prefix>heartbeats` too (same
   * group) and keeps each host's latest in `analytics_hosts`: load per node,
   * and whether a stalled agent's host is alive. Omitted = events only.
   */
  heartbeats?: Pick<RuntimeWire, 'decodeHeartbeat'>;
  /** Where anomalies go on the log; omitted = stored only. */
  publisher?: AnomalyPublisher;
  /** @default 'agentstate.' */
  topicPrefix?: string;
  /** @default `<topicPrefix>analytics` */
  group?: string;
  windows?: Record<string, number>;
  retentionMs?: Record<string, number>;
  thresholds?: Partial<DetectorThresholds>;
  thresholdsByAgentType?: Record<string, Partial<DetectorThresholds>>;
  /** @default 2000 */
  maxBatchRecords?: number;
  /** @default 30000 */
  sessionTimeoutMs?: number;
  /** How long a batch's writes are retried before the consumer restarts. @default 60000 */
  retryWindowMs?: number;
  /** @default 1000 */
  restartDelayMs?: number;
  /** How often (wall clock) retention runs. @default 60000 */
  retentionEveryMs?: number;
  metrics?: Metrics;
  logger?: Logger;
}

/**
 * The analytics consumer (issue 16): reads `<prefix>events` in its own group,
 * folds each partition into per-agent windows and detector state
 * (`PartitionFold`), and per batch: publishes the anomalies that opened,
 * rose or resolved, writes windows, anomalies and checkpoints (idempotent
 * replaces), and only then lets the group commit (DESIGN.md Invariant 4).
 *
 * A partition is resumed from its checkpoints (records at or below an
 * agent's checkpointed offset are skipped), unless the batch starts at the
 * partition's first retained offset: then it is folded from nothing, which
 * is what a group reset to earliest asks for (a rebuild that rewrites the
 * same documents).
 */
export class AnalyticsConsumer {
  readonly topics: TopicNames;
  readonly group: string;
  readonly settings: AnalyticsSettings;
  private readonly folds = new Map<number, PartitionFold>();
  private readonly metrics: Metrics;
  private retentionAt = 0;
  /** Latest heartbeat per host this instance has seen (loaded from the store once per run). */
  private hosts: Map<string, HostRecord> | undefined;
  /** Open access windows by `_id` (loaded from the store on first use, dropped once past). */
  private accessWindows = new Map<string, AccessWindow>();
  private watermark = 0;
  private readonly o: AnalyticsConsumerOptions & typeof DEFAULT_ANALYTICS_CONSUMER_OPTIONS;

  /** @throws ConfigError naming a field that is out of range */
  constructor(options: AnalyticsConsumerOptions) {
    const o = { ...DEFAULT_ANALYTICS_CONSUMER_OPTIONS, ...options };
    for (const field of ['maxBatchRecords', 'sessionTimeoutMs', 'retryWindowMs', 'restartDelayMs', 'retentionEveryMs'] as const) positiveInt(o[field], field);
    this.o = o;
    this.topics = topicNames(o.topicPrefix);
    this.group = o.group ?? analyticsGroup(o.topicPrefix);
    this.settings = resolveSettings({
      ...(o.windows ? { windows: o.windows } : {}),
      ...(o.retentionMs ? { retentionMs: o.retentionMs } : {}),
      ...(o.thresholds ? { thresholds: o.thresholds } : {}),
      ...(o.thresholdsByAgentType ? { thresholdsByAgentType: o.thresholdsByAgentType } : {}),
    });
    this.metrics = o.metrics ?? NO_METRICS;
  }

  /** Runs until `signal` aborts, restarting a failed consumer after a pause (state reloaded from the store). */
  async run(signal: AbortSignal): Promise<void> {
    await runWithRestarts(
      async () => {
        this.folds.clear();
        this.hosts = undefined;
        this.accessWindows.clear();
        const consumer = await this.o.log.consume({
          group: this.group,
          topics: this.topicsRead(),
          handler: (batch) => this.handle(batch, signal),
          signal,
          fromBeginning: true,
          maxBatchRecords: this.o.maxBatchRecords,
          sessionTimeoutMs: this.o.sessionTimeoutMs,
        });
        await consumer.done;
      },
      { signal, restartDelayMs: this.o.restartDelayMs, what: 'analytics consumer', logger: this.o.logger, onRestart: () => this.metrics.inc('agentstate_analytics_restarts_total') },
    );
  }

  /** Runs until the group has committed up to the end offsets seen at the call, then stops. */
  async runUntilCaughtUp(signal?: AbortSignal, pollMs = 200): Promise<void> {
    const { log } = this.o;
    const targets = await Promise.all(this.topicsRead().map(async (topic) => ({ topic, end: await log.endOffsets(topic), start: await log.startOffsets(topic) })));
    const ac = new AbortController();
    const onAbort = (): void => ac.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const running = this.run(ac.signal);
    const behind = async ({ topic, end, start }: (typeof targets)[number]): Promise<boolean> => {
      const committed = await log.committedOffsets(this.group, topic).catch(() => ({}) as Record<number, string>);
      return Object.entries(end).some(([p, e]) => BigInt(committed[Number(p)] ?? start[Number(p)] ?? '0') < BigInt(e));
    };
    try {
      while (!ac.signal.aborted) {
        if (!(await Promise.all(targets.map(behind))).some(Boolean)) break;
        await sleep(pollMs, ac.signal);
      }
    } finally {
      ac.abort();
      signal?.removeEventListener('abort', onAbort);
      await running;
    }
  }

  private topicsRead(): string[] {
    return this.o.heartbeats ? [this.topics.events, this.topics.heartbeats] : [this.topics.events];
  }

  private async handle(batch: ConsumedBatch, signal: AbortSignal): Promise<void> {
    const first = batch.records[0];
    const last = batch.records.at(-1);
    if (!first || !last) return;
    const started = performance.now();
    const p = batch.partition;
    const retry = <T>(what: string, fn: () => Promise<T>): Promise<T> => retrying(fn, { windowMs: this.o.retryWindowMs, signal, what, ...(this.o.logger ? { logger: this.o.logger } : {}) });
    if (batch.topic === this.topics.heartbeats) return this.handleHeartbeats(batch, retry);

    let fold = this.folds.get(p);
    if (!fold || fold.nextOffset !== first.offset) fold = await retry('load analytics checkpoints', () => this.open(p, first.offset));
    this.folds.set(p, fold);
    // Read before folding: the scan reads most records without a wait; the others are parsed, and a
    // claim-checked changeset comes from the blob store, retried like a sink (the fold itself is pure).
    const readings = await retry('read the batch (claim-checked changesets from the blob store)', async () => {
      const out: FactReading[] = [];
      for (const r of batch.records) out.push(scanFact(r, this.o.read) ?? (await parseFact(r, this.o.read, this.o.changesets)));
      return out;
    });
    for (const [i, r] of batch.records.entries()) fold.add(r.key, r.offset, readings[i]!);
    const out = fold.drain();

    // Publish first: a crash after it folds the batch again and publishes the
    // same records (at least once, same anomalyId); a crash after the store
    // write would skip the records and never publish them.
    const toPublish = out.anomalies.filter((c) => c.publish).map((c) => c.record);
    if (this.o.publisher && toPublish.length > 0) await retry('anomalies append', () => this.o.publisher!.publish(toPublish));
    await retry('analytics write', () => this.o.store.writeBatch({ windows: out.windows, anomalies: out.anomalies.map((c) => c.record), agents: out.agents, partition: out.partition }));

    const m = this.metrics;
    m.inc('agentstate_analytics_events_total', { result: 'applied' }, out.applied);
    m.inc('agentstate_analytics_events_total', { result: 'rejected' }, out.rejected);
    for (const [reason, n] of Object.entries(out.skipped)) m.inc('agentstate_analytics_skipped_total', { reason }, n);
    for (const a of toPublish) m.inc('agentstate_analytics_anomalies_total', { type: a.type, status: a.status });
    m.set('agentstate_analytics_lag', Number(BigInt(batch.highWatermark) - BigInt(last.offset) - 1n), { partition: String(p) });
    m.observe('agentstate_analytics_batch_seconds', (performance.now() - started) / 1000);
    const bad = Object.keys(out.skipped).filter((r) => r !== 'redelivered' && r !== 'tombstone');
    if (bad.length > 0) this.o.logger?.warn({ partition: p, skipped: out.skipped, details: out.skipDetails }, 'records skipped by analytics');
    this.watermark = Math.max(this.watermark, out.partition.watermark);
    await this.retention(retry);
  }

  /**
   * Host heartbeats: each host's latest (by timestamp, then sequence) replaces
   * its document; per-agent client heartbeats (no host) are not hosts, and a
   * record that does not decode is counted and skipped with its reason.
   */
  private async handleHeartbeats(batch: ConsumedBatch, retry: <T>(what: string, fn: () => Promise<T>) => Promise<T>): Promise<void> {
    this.hosts ??= new Map((await retry('analytics_hosts load', () => this.o.store.hosts())).map((h) => [h.nodeId, h]));
    const changed = new Map<string, HostRecord>();
    const beats: NodeHeartbeat[] = [];
    for (const r of batch.records) {
      let h;
      try {
        h = r.value === null ? undefined : await this.o.heartbeats!.decodeHeartbeat(r.value);
      } catch (err) {
        this.metrics.inc('agentstate_analytics_skipped_total', { reason: 'malformed_heartbeat' });
        this.o.logger?.warn({ partition: batch.partition, offset: r.offset, err }, 'heartbeat skipped by analytics');
        continue;
      }
      if (!h) continue;
      if (h.access && h.access.length > 0) beats.push(h);
      if (h.role === 'access') continue; // an SDK process's access report: no host
      const rec = hostRecord(h);
      if (!newer(rec, this.hosts.get(rec.nodeId))) continue;
      this.hosts.set(rec.nodeId, rec);
      changed.set(rec.nodeId, rec);
    }
    // Access windows first: each remembers the latest heartbeat per host it
    // counted, so a batch delivered again after a crash counts nothing twice.
    const dirty = beats.length > 0 ? await retry('access windows load', () => this.foldAccess(beats)) : [];
    if (dirty.length > 0) await retry('access windows write', () => this.o.store.writeAccess(dirty));
    if (changed.size > 0) await retry('analytics_hosts write', () => this.o.store.writeHosts([...changed.values()]));
    this.metrics.inc('agentstate_analytics_heartbeats_total', {}, batch.records.length);
  }

  /** Adds the heartbeats' access figures to each agent's window of every label; returns the windows that changed. */
  private async foldAccess(beats: readonly NodeHeartbeat[]): Promise<AccessWindow[]> {
    const windows = Object.entries(this.settings.windows);
    // Load, one query per label, the windows this batch touches that are not in memory.
    for (const [label, ms] of windows) {
      const missing = new Map<string, number>();
      for (const h of beats) for (const a of h.access!) if (!this.accessWindows.has(accessWindowId(a.instanceId, label, Math.floor(h.timestamp / ms) * ms))) missing.set(a.instanceId, h.timestamp);
      if (missing.size === 0) continue;
      const starts = beats.map((h) => Math.floor(h.timestamp / ms) * ms);
      for (const w of await this.o.store.access({ instanceIds: [...missing.keys()], window: label, from: Math.min(...starts), to: Math.max(...starts) + 1 })) this.accessWindows.set(w._id, w);
    }
    const dirty = new Map<string, AccessWindow>();
    let latest = 0;
    for (const h of beats) {
      latest = Math.max(latest, h.timestamp);
      for (const a of h.access!) {
        for (const [label, ms] of windows) {
          const id = accessWindowId(a.instanceId, label, Math.floor(h.timestamp / ms) * ms);
          let w = this.accessWindows.get(id);
          if (!w) this.accessWindows.set(id, (w = emptyAccessWindow(a.instanceId, label, ms, h.timestamp)));
          if (addAccess(w, h, a)) dirty.set(id, w);
        }
      }
    }
    // Windows a full length in the past stay in the store only.
    for (const [id, w] of this.accessWindows) if (w.windowEnd + (w.windowEnd - w.windowStart) < latest) this.accessWindows.delete(id);
    return [...dirty.values()];
  }

  /** The partition's fold: from nothing at the first retained offset (a rebuild), else from its checkpoints. */
  private async open(p: number, firstOffset: string): Promise<PartitionFold> {
    const start = (await this.o.log.startOffsets(this.topics.events))[p] ?? '0';
    if (BigInt(firstOffset) <= BigInt(start)) return new PartitionFold(p, this.settings);
    return new PartitionFold(p, this.settings, await this.o.store.loadPartition(p));
  }

  /** Deletes windows past their retention, judged by log time (the newest event seen), at most once per `retentionEveryMs`. */
  private async retention(retry: <T>(what: string, fn: () => Promise<T>) => Promise<T>): Promise<void> {
    const now = Date.now();
    if (now - this.retentionAt < this.o.retentionEveryMs) return;
    this.retentionAt = now;
    for (const [label, ms] of Object.entries(this.settings.retentionMs)) {
      const n = await retry('state_metrics retention', () => this.o.store.deleteWindowsBefore(label, this.watermark - ms));
      if (n > 0) this.metrics.inc('agentstate_analytics_windows_expired_total', { window: label }, n);
      // Access windows are judged by the same log time (heartbeats and events share the wall clock).
      const a = await retry('state_metrics retention', () => this.o.store.deleteWindowsBefore(accessLabel(label), this.watermark - ms));
      if (a > 0) this.metrics.inc('agentstate_analytics_windows_expired_total', { window: accessLabel(label) }, a);
    }
  }
}
