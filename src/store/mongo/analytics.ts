import type { Collection, Document, Filter, IndexDescription } from 'mongodb';
import { accessLabel, type AccessWindow } from '../../analytics/access.js';
import type { AnomalyRecord } from '../../analytics/anomaly.js';
import type { AgentCheckpoint, PartitionCheckpoint } from '../../analytics/fold.js';
import type { HostRecord } from '../../analytics/hosts.js';
import { summarize, type AgentSummary, type AnalyticsBatchWrite, type AnalyticsStore, type AnomalyQuery, type MetricsQuery } from '../../analytics/port.js';
import type { WindowAggregate } from '../../analytics/window.js';
import { Limiter, forEachLimited } from '../../util/limit.js';
import { call } from './errors.js';
import type { MongoConnection } from './connection.js';

type AnomalyDoc = AnomalyRecord & { _id: string };

/** Replaces in flight per store (each holds at most two of FerretDB's PostgreSQL connections, see below). @default 8 */
const WRITES_IN_FLIGHT = 8;

/**
 * The analytics store on MongoDB (or FerretDB): `state_metrics` (one document
 * per agent, window label and window start), `state_anomalies` (`_id` =
 * anomalyId), and the consumer's checkpoints `analytics_agents` and
 * `analytics_partitions`. Every write is a replace by `_id` with upsert, so
 * a batch written twice leaves the same documents (DESIGN.md Invariant 4).
 * The connection belongs to the caller unless `closeConnection` is set.
 *
 * Every replace is its own `update` command with one statement, at most
 * {@link WRITES_IN_FLIGHT} at a time, never a multi-statement bulkWrite:
 * FerretDB 1.24 on PostgreSQL keeps the query of each statement of an
 * `update` command open (one pooled PostgreSQL connection each) until the
 * whole command returns, so one bulkWrite replacing ~50 existing documents
 * took every connection of its pool (50) and waited for one more, forever;
 * from then on every command, `createIndexes` and `ping` included, hung
 * until FerretDB was restarted. (Its update handler `defer`s each
 * statement's iterator close inside the loop over statements.) A single
 * statement holds at most two connections (its query and its write), so
 * this store holds at most 2 x WRITES_IN_FLIGHT.
 * `test/int/analytics/analytics.int.test.ts` and `test/contract/analytics-store`
 * replace more than 50 existing documents in one batch on the servers profile.
 */
export class MongoAnalyticsStore implements AnalyticsStore {
  private readonly metricsC: Collection<WindowAggregate>;
  private readonly anomaliesC: Collection<AnomalyDoc>;
  private readonly agentsC: Collection<AgentCheckpoint>;
  private readonly partitionsC: Collection<PartitionCheckpoint>;
  private readonly hostsC: Collection<HostRecord>;
  /** Shared by every batch (partitions write concurrently), so the bound is per store. */
  private readonly writes = new Limiter(WRITES_IN_FLIGHT);

  constructor(
    private readonly connection: MongoConnection,
    private readonly options: { closeConnection?: boolean } = {},
  ) {
    const db = connection.db;
    this.metricsC = db.collection<WindowAggregate>('state_metrics');
    this.anomaliesC = db.collection<AnomalyDoc>('state_anomalies');
    this.agentsC = db.collection<AgentCheckpoint>('analytics_agents');
    this.partitionsC = db.collection<PartitionCheckpoint>('analytics_partitions');
    this.hostsC = db.collection<HostRecord>('analytics_hosts');
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
      // Windows and anomalies, then the agents' checkpoints, then the partition's:
      // a crash in between leaves checkpoints behind the outputs, so the restart
      // folds those records again and rewrites the same documents.
      const anomalies = b.anomalies.map((a) => ({ ...a, _id: a.anomalyId }));
      await Promise.all([this.replaceAll(this.metricsC, b.windows), this.replaceAll(this.anomaliesC, anomalies)]);
      await this.replaceAll(this.agentsC, b.agents);
      await this.writes.run(() => this.partitionsC.replaceOne({ _id: b.partition._id }, b.partition, { upsert: true }));
    });
  }

  private replaceAll<T extends Document & { _id: string }>(coll: Collection<T>, docs: T[]): Promise<void> {
    return forEachLimited(docs, this.writes, async (d) => {
      await coll.replaceOne({ _id: d._id } as Filter<T>, d, { upsert: true });
    });
  }

  async metrics(q: MetricsQuery): Promise<WindowAggregate[]> {
    const filter: Filter<WindowAggregate> = { window: q.window };
    if (q.instanceIds) filter.instanceId = { $in: q.instanceIds };
    if (q.from !== undefined || q.to !== undefined) filter.windowStart = { ...(q.from !== undefined ? { $gte: q.from } : {}), ...(q.to !== undefined ? { $lt: q.to } : {}) };
    return call('state_metrics query', () => this.metricsC.find(filter).sort({ instanceId: 1, windowStart: 1 }).toArray());
  }

  async writeAccess(windows: AccessWindow[]): Promise<void> {
    await call('access windows write', () => this.replaceAll(this.metricsC as unknown as Collection<AccessWindow>, windows));
  }

  async access(q: MetricsQuery): Promise<AccessWindow[]> {
    return (await this.metrics({ ...q, window: accessLabel(q.window) })) as unknown as AccessWindow[];
  }

  async anomalies(q: AnomalyQuery): Promise<AnomalyRecord[]> {
    const filter: Filter<AnomalyDoc> = {};
    if (q.instanceId) filter.instanceId = q.instanceId;
    if (q.type) filter.type = q.type;
    if (q.status) filter.status = q.status;
    if (q.since !== undefined) filter.lastSeenAt = { $gte: q.since };
    if (q.until !== undefined) filter.firstSeenAt = { $lt: q.until };
    const docs = await call('state_anomalies query', () =>
      this.anomaliesC
        .find(filter)
        .sort({ lastSeenAt: -1 })
        .limit(q.limit ?? 1000)
        .toArray(),
    );
    return docs.map(({ _id, ...a }) => a);
  }

  async agents(): Promise<AgentSummary[]> {
    const docs = await call('analytics_agents query', () => this.agentsC.find({}).toArray());
    return docs.map(summarize);
  }

  async writeHosts(hosts: HostRecord[]): Promise<void> {
    await call('analytics_hosts write', () => this.replaceAll(this.hostsC, hosts));
  }

  async hosts(): Promise<HostRecord[]> {
    return call('analytics_hosts query', () => this.hostsC.find({}).sort({ _id: 1 }).toArray());
  }

  async deleteWindowsBefore(window: string, before: number): Promise<number> {
    const r = await call('state_metrics retention', () => this.metricsC.deleteMany({ window, windowEnd: { $lt: before } }));
    return r.deletedCount;
  }

  async clear(): Promise<void> {
    await call('analytics clear', async () => {
      await Promise.all([this.metricsC.deleteMany({}), this.anomaliesC.deleteMany({}), this.agentsC.deleteMany({}), this.partitionsC.deleteMany({}), this.hostsC.deleteMany({})]);
    });
  }

  async close(): Promise<void> {
    if (this.options.closeConnection) await this.connection.close();
  }
}
