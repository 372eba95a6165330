import type Database from 'better-sqlite3';
import { accessLabel, type AccessWindow } from '../../analytics/access.js';
import type { AnomalyRecord } from '../../analytics/anomaly.js';
import type { AgentCheckpoint, PartitionCheckpoint } from '../../analytics/fold.js';
import type { HostRecord } from '../../analytics/hosts.js';
import { summarize, type AgentSummary, type AnalyticsBatchWrite, type AnalyticsStore, type AnomalyQuery, type MetricsQuery } from '../../analytics/port.js';
import type { WindowAggregate } from '../../analytics/window.js';
import { run } from './errors.js';
import { openStoreDatabase } from './schema.js';

export interface SqliteAnalyticsStoreOptions {
  /** Database file (created if missing) or `':memory:'`. Embedded: `<data dir>/analytics.sqlite`. */
  path: string;
  /** @default 5000 */
  busyTimeoutMs?: number;
}

/**
 * The analytics store on SQLite (embedded profile): the same four
 * collections as MongoDB as tables of JSON documents, with the queried
 * fields as columns. A batch is one transaction, so it holds whole or not
 * at all (stronger than the port asks).
 */
const DDL = `
CREATE TABLE IF NOT EXISTS state_metrics (
  id TEXT PRIMARY KEY, instance_id TEXT NOT NULL, window TEXT NOT NULL,
  window_start INTEGER NOT NULL, window_end INTEGER NOT NULL, doc TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS state_metrics_agent ON state_metrics (instance_id, window, window_start);
CREATE INDEX IF NOT EXISTS state_metrics_end ON state_metrics (window, window_end);
CREATE TABLE IF NOT EXISTS state_anomalies (
  id TEXT PRIMARY KEY, instance_id TEXT NOT NULL, type TEXT NOT NULL, status TEXT NOT NULL,
  first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, doc TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS state_anomalies_last ON state_anomalies (last_seen);
CREATE TABLE IF NOT EXISTS analytics_agents (id TEXT PRIMARY KEY, partition INTEGER NOT NULL, doc TEXT NOT NULL) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS analytics_agents_partition ON analytics_agents (partition);
CREATE TABLE IF NOT EXISTS analytics_partitions (partition INTEGER PRIMARY KEY, doc TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS analytics_hosts (id TEXT PRIMARY KEY, doc TEXT NOT NULL) STRICT, WITHOUT ROWID;
`;

export class SqliteAnalyticsStore implements AnalyticsStore {
  private readonly db: Database.Database;
  private closed = false;
  private statements: ReturnType<SqliteAnalyticsStore['prepare']> | undefined;

  constructor(options: SqliteAnalyticsStoreOptions) {
    this.db = openStoreDatabase(options.path, options.busyTimeoutMs ?? 5000);
  }

  async setup(): Promise<void> {
    run('analytics schema', () => this.db.exec(DDL));
    this.statements = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      window: db.prepare('INSERT OR REPLACE INTO state_metrics (id, instance_id, window, window_start, window_end, doc) VALUES (?, ?, ?, ?, ?, ?)'),
      anomaly: db.prepare('INSERT OR REPLACE INTO state_anomalies (id, instance_id, type, status, first_seen, last_seen, doc) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      agent: db.prepare('INSERT OR REPLACE INTO analytics_agents (id, partition, doc) VALUES (?, ?, ?)'),
      partition: db.prepare('INSERT OR REPLACE INTO analytics_partitions (partition, doc) VALUES (?, ?)'),
      host: db.prepare('INSERT OR REPLACE INTO analytics_hosts (id, doc) VALUES (?, ?)'),
      loadAgents: db.prepare<[number], { doc: string }>('SELECT doc FROM analytics_agents WHERE partition = ?'),
      loadPartition: db.prepare<[number], { doc: string }>('SELECT doc FROM analytics_partitions WHERE partition = ?'),
    };
  }

  private get s(): NonNullable<SqliteAnalyticsStore['statements']> {
    if (!this.statements) this.statements = this.prepare();
    return this.statements;
  }

  async loadPartition(partition: number): Promise<{ partition: PartitionCheckpoint | undefined; agents: AgentCheckpoint[] }> {
    return run('analytics checkpoints', () => {
      const p = this.s.loadPartition.get(partition);
      return { partition: p ? (JSON.parse(p.doc) as PartitionCheckpoint) : undefined, agents: this.s.loadAgents.all(partition).map((r) => JSON.parse(r.doc) as AgentCheckpoint) };
    });
  }

  async writeBatch(b: AnalyticsBatchWrite): Promise<void> {
    const s = this.s;
    run('analytics batch write', () =>
      this.db.transaction(() => {
        for (const w of b.windows) s.window.run(w._id, w.instanceId, w.window, w.windowStart, w.windowEnd, JSON.stringify(w));
        for (const a of b.anomalies) s.anomaly.run(a.anomalyId, a.instanceId, a.type, a.status, a.firstSeenAt, a.lastSeenAt, JSON.stringify(a));
        for (const a of b.agents) s.agent.run(a._id, a.partition, JSON.stringify(a));
        s.partition.run(b.partition.partition, JSON.stringify(b.partition));
      })(),
    );
  }

  async writeAccess(windows: AccessWindow[]): Promise<void> {
    const s = this.s;
    run('access windows write', () =>
      this.db.transaction(() => {
        for (const w of windows) s.window.run(w._id, w.instanceId, w.window, w.windowStart, w.windowEnd, JSON.stringify(w));
      })(),
    );
  }

  async access(q: MetricsQuery): Promise<AccessWindow[]> {
    return (await this.metrics({ ...q, window: accessLabel(q.window) })) as unknown as AccessWindow[];
  }

  async metrics(q: MetricsQuery): Promise<WindowAggregate[]> {
    const where = ['window = ?'];
    const args: Array<string | number> = [q.window];
    if (q.instanceIds) {
      where.push(`instance_id IN (${q.instanceIds.map(() => '?').join(',') || 'NULL'})`);
      args.push(...q.instanceIds);
    }
    if (q.from !== undefined) (where.push('window_start >= ?'), args.push(q.from));
    if (q.to !== undefined) (where.push('window_start < ?'), args.push(q.to));
    const rows = run('state_metrics query', () => this.db.prepare<unknown[], { doc: string }>(`SELECT doc FROM state_metrics WHERE ${where.join(' AND ')} ORDER BY instance_id, window_start`).all(...args));
    return rows.map((r) => JSON.parse(r.doc) as WindowAggregate);
  }

  async anomalies(q: AnomalyQuery): Promise<AnomalyRecord[]> {
    const where = ['1 = 1'];
    const args: Array<string | number> = [];
    if (q.instanceId) (where.push('instance_id = ?'), args.push(q.instanceId));
    if (q.type) (where.push('type = ?'), args.push(q.type));
    if (q.status) (where.push('status = ?'), args.push(q.status));
    if (q.since !== undefined) (where.push('last_seen >= ?'), args.push(q.since));
    if (q.until !== undefined) (where.push('first_seen < ?'), args.push(q.until));
    args.push(q.limit ?? 1000);
    const rows = run('state_anomalies query', () => this.db.prepare<unknown[], { doc: string }>(`SELECT doc FROM state_anomalies WHERE ${where.join(' AND ')} ORDER BY last_seen DESC LIMIT ?`).all(...args));
    return rows.map((r) => JSON.parse(r.doc) as AnomalyRecord);
  }

  async agents(): Promise<AgentSummary[]> {
    const rows = run('analytics_agents query', () => this.db.prepare<[], { doc: string }>('SELECT doc FROM analytics_agents').all());
    return rows.map((r) => summarize(JSON.parse(r.doc) as AgentCheckpoint));
  }

  async writeHosts(hosts: HostRecord[]): Promise<void> {
    const s = this.s;
    run('analytics_hosts write', () => this.db.transaction(() => hosts.forEach((h) => s.host.run(h._id, JSON.stringify(h))))());
  }

  async hosts(): Promise<HostRecord[]> {
    const rows = run('analytics_hosts query', () => this.db.prepare<[], { doc: string }>('SELECT doc FROM analytics_hosts ORDER BY id').all());
    return rows.map((r) => JSON.parse(r.doc) as HostRecord);
  }

  async deleteWindowsBefore(window: string, before: number): Promise<number> {
    return run('state_metrics retention', () => this.db.prepare('DELETE FROM state_metrics WHERE window = ? AND window_end < ?').run(window, before).changes);
  }

  async clear(): Promise<void> {
    run('analytics clear', () => this.db.exec('DELETE FROM state_metrics; DELETE FROM state_anomalies; DELETE FROM analytics_agents; DELETE FROM analytics_partitions; DELETE FROM analytics_hosts;'));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
