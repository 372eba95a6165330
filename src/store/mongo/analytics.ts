import type { AnyBulkWriteOperation, Collection, Document, Filter, IndexDescription } from 'mongodb';
import type { AnomalyRecord } from '../../analytics/anomaly.js';
import type { AgentCheckpoint, PartitionCheckpoint } from '../../analytics/fold.js';
import { summarize, type AgentSummary, type AnalyticsBatchWrite, type AnalyticsStore, type AnomalyQuery, type MetricsQuery } from '../../analytics/port.js';
import type { WindowAggregate } from '../../analytics/window.js';
import { call } from './errors.js';
import type { MongoConnection } from './connection.js';

type AnomalyDoc = AnomalyRecord & { _id: string };

/**
 * The analytics store on MongoDB (or FerretDB): `state_metrics` (one document
 * per agent, window label and window start), `state_anomalies` (`_id` =
 * anomalyId), and the consumer's checkpoints `analytics_agents` and
 * `analytics_partitions`. Every write is a replace by `_id` with upsert, so
 * a batch written twice leaves the same documents (DESIGN.md Invariant 4).
 * The connection belongs to the caller unless `closeConnection` is set.
 */
export class MongoAnalyticsStore implements AnalyticsStore {
  private readonly metricsC: Collection<WindowAggregate>;
  private readonly anomaliesC: Collection<AnomalyDoc>;
  private readonly agentsC: Collection<AgentCheckpoint>;
  private readonly partitionsC: Collection<PartitionCheckpoint>;

  constructor(
    private readonly connection: MongoConnection,
    private readonly options: { closeConnection?: boolean } = {},
  ) {
    const db = connection.db;
    this.metricsC = db.collection<WindowAggregate>('state_metrics');
    this.anomaliesC = db.collection<AnomalyDoc>('state_anomalies');
    this.agentsC = db.collection<AgentCheckpoint>('analytics_agents');
    this.partitionsC = db.collection<PartitionCheckpoint>('analytics_partitions');
  }

  async setup(): Promise<void> {
    // One named index per createIndexes call, as MongoStore does: FerretDB 1.24
    // hung on createIndex with a generated name (measured on the dev stack).
    const specs: Array<[Collection<never>, IndexDescription]> = [
      [this.metricsC as unknown as Collection<never>, { key: { instanceId: 1, window: 1, windowStart: 1 }, name: 'agent_window_start' }],
      [this.metricsC as unknown as Collection<never>, { key: { window: 1, windowEnd: 1 }, name: 'window_end' }],
      [this.anomaliesC as unknown as Collection<never>, { key: { instanceId: 1, lastSeenAt: -1 }, name: 'agent_last_seen' }],
      [this.anomaliesC as unknown as Collection<never>, { key: { lastSeenAt: -1 }, name: 'last_seen' }],
      [this.agentsC as unknown as Collection<never>, { key: { partition: 1 }, name: 'partition' }],
    ];
    for (const [coll, spec] of specs) await call(`create index ${spec.name ?? ''}`, () => coll.createIndexes([spec]));
  }

  async loadPartition(partition: number): Promise<{ partition: PartitionCheckpoint | undefined; agents: AgentCheckpoint[] }> {
    return call('analytics checkpoints', async () => {
      const [p, agents] = await Promise.all([this.partitionsC.findOne({ _id: `p${partition}` }), this.agentsC.find({ partition }).toArray()]);
      return { partition: p ?? undefined, agents };
    });
  }

  async writeBatch(b: AnalyticsBatchWrite): Promise<void> {
    await call('analytics batch write', async () => {
      const replace = <T extends Document & { _id: string }>(docs: T[]): AnyBulkWriteOperation<T>[] =>
        docs.map((d) => ({ replaceOne: { filter: { _id: d._id } as Filter<T>, replacement: d, upsert: true } }));
      const anomalies = b.anomalies.map((a) => ({ ...a, _id: a.anomalyId }));
      await Promise.all([
        b.windows.length ? this.metricsC.bulkWrite(replace(b.windows), { ordered: false }) : undefined,
        anomalies.length ? this.anomaliesC.bulkWrite(replace(anomalies), { ordered: false }) : undefined,
      ]);
      if (b.agents.length) await this.agentsC.bulkWrite(replace(b.agents), { ordered: false });
      await this.partitionsC.replaceOne({ _id: b.partition._id }, b.partition, { upsert: true });
    });
  }

  async metrics(q: MetricsQuery): Promise<WindowAggregate[]> {
    const filter: Filter<WindowAggregate> = { window: q.window };
    if (q.instanceIds) filter.instanceId = { $in: q.instanceIds };
    if (q.from !== undefined || q.to !== undefined) filter.windowStart = { ...(q.from !== undefined ? { $gte: q.from } : {}), ...(q.to !== undefined ? { $lt: q.to } : {}) };
    return call('state_metrics query', () => this.metricsC.find(filter).sort({ instanceId: 1, windowStart: 1 }).toArray());
  }

  async anomalies(q: AnomalyQuery): Promise<AnomalyRecord[]> {
    const filter: Filter<AnomalyDoc> = {};
    if (q.instanceId) filter.instanceId = q.instanceId;
    if (q.type) filter.type = q.type;
    if (q.status) filter.status = q.status;
    if (q.since !== undefined) filter.lastSeenAt = { $gte: q.since };
    if (q.until !== undefined) filter.firstSeenAt = { $lt: q.until };
    const docs = await call('state_anomalies query', () => this.anomaliesC.find(filter).sort({ lastSeenAt: -1 }).limit(q.limit ?? 1000).toArray());
    return docs.map(({ _id, ...a }) => a);
  }

  async agents(): Promise<AgentSummary[]> {
    const docs = await call('analytics_agents query', () => this.agentsC.find({}).toArray());
    return docs.map(summarize);
  }

  async deleteWindowsBefore(window: string, before: number): Promise<number> {
    const r = await call('state_metrics retention', () => this.metricsC.deleteMany({ window, windowEnd: { $lt: before } }));
    return r.deletedCount;
  }

  async clear(): Promise<void> {
    await call('analytics clear', async () => {
      await Promise.all([this.metricsC.deleteMany({}), this.anomaliesC.deleteMany({}), this.agentsC.deleteMany({}), this.partitionsC.deleteMany({})]);
    });
  }

  async close(): Promise<void> {
    if (this.options.closeConnection) await this.connection.close();
  }
}
