import { existsSync } from 'node:fs';
import { readEnv } from '../../config/env.js';
import { ENV_SETTING_NAMES, probeServers } from '../../sdk/probe.js';
import { join, resolve } from 'node:path';
import {
  ANOMALY_TYPES,
  StateAnalyticsService,
  durationMs,
  figures,
  hostState,
  hostVerdict,
  type AgentStorageAnalysis,
  type AnalyticsStore,
  type AnomalyRecord,
  type AnomalyType,
  type HostRecord,
  type StateMetrics,
} from '../../analytics/index.js';
import { FsBlobStore } from '../../blob/fs.js';
import type { BlobStore } from '../../blob/port.js';
import { S3BlobStore } from '../../blob/s3.js';
import type { StateStore } from '../../store/port.js';
import { openStoreOnly } from '../store-only.js';
import { MongoAnalyticsStore } from '../../store/mongo/analytics.js';
import { MongoConnection } from '../../store/mongo/connection.js';
import { SqliteAnalyticsStore } from '../../store/sqlite/analytics.js';
import { asString, backendKind, GLOBAL_HELP, parse, parseDuration, parsePositiveInt, positionalArgs, UsageError, usesServers } from '../args.js';

const WHERE = `Reads the analytics service's outputs: <data-dir>/analytics.sqlite (embedded)
or MONGODB_URI, database AGENTSTATE_MONGO_DATABASE (servers): state_metrics,
state_anomalies. The service (services/analytics, or agentstate start) writes them.`;

export const analyticsHelp = `agentstate analytics <id> [--window 1h] [--last N]

An agent's windowed metrics (docs/analytics.md): events, state size and
growth, changeset bytes, errors, task completion, execution time, rejected
writes, per window, newest last; then over those windows its average read
and write time, cache hit rate (from the runtime hosts' heartbeats) and
compression ratio (the projector's encodings); then its anomalies; then its bytes in
each store: changeset bytes in the log windows, its store records (BSON
size, an estimate), its snapshot and claim-check blobs, and its share of the
backup segments (apportioned by record count, an estimate).

  --window W   the window size the service keeps: 1m or 1h by default (default 1h)
  --last N     the last N windows (default 24)

${WHERE}

${GLOBAL_HELP}`;

export const anomaliesHelp = `agentstate anomalies [--since 10m] [--type loop] [--status active|resolved] [--json]

Anomalies the analytics service flagged, newest first: type, severity,
agent, first/last seen, versions, its host now (from the runtime heartbeats:
a stalled agent on a live host is hung itself; on a silent one, the host is
down), what it saw.

  --since D    last seen within D of now (default 1h)
  --type T     only this type: ${ANOMALY_TYPES.join(', ')}
  --status S   active or resolved (default both)
  --agent ID   only this agent

${WHERE}

${GLOBAL_HELP}`;

export const topHelp = `agentstate top [--window 1m] [--rows N] [--interval 2s] [--count N]

A live table of the fleet: the busiest, largest and most anomalous agents,
from the analytics outputs, refreshed every --interval. Ctrl-C stops it.
Below it, the runtime hosts from their heartbeats: alive, silent (missed
3 heartbeats) or stopped, and the agents each hosts.

  --window W    the window the rates come from (default 1m)
  --rows N      agents shown (default 20)
  --interval D  refresh period (default 2s)
  --count N     stop after N refreshes (default: until Ctrl-C)

${WHERE}

${GLOBAL_HELP}`;

/** The analytics store alone (no log connection); undefined when the embedded file does not exist yet. */
async function openStore(kind: 'auto' | 'embedded' | 'servers', dataDir: string, env: NodeJS.ProcessEnv): Promise<AnalyticsStore | undefined> {
  const servers = usesServers(kind, env);
  if (!servers) {
    const path = join(resolve(dataDir), 'analytics.sqlite');
    if (!existsSync(path)) return undefined;
    const store = new SqliteAnalyticsStore({ path });
    await store.setup();
    return store;
  }
  const config = readEnv(env);
  if (!config.mongo) throw new UsageError('the servers backend needs MONGODB_URI (e.g. eval "$(scripts/stack env)")');
  // Within AGENTSTATE_CONNECT_TIMEOUT_MS, or one line naming MongoDB and its variable (issue 12 §1).
  await probeServers({ mongo: config.mongo }, ENV_SETTING_NAMES, config.connectTimeoutMs);
  const connection = await MongoConnection.connect({ uri: config.mongo.uri, database: config.mongo.database, clientOptions: { serverSelectionTimeoutMS: config.connectTimeoutMs } });
  return new MongoAnalyticsStore(connection, { closeConnection: true });
}

const NO_DATA = 'no analytics yet (run the analytics service, or agentstate start)';

function windowLabel(text: string | undefined, fallback: string): string {
  const w = text ?? fallback;
  if (durationMs(w) === undefined) throw new UsageError(`--window: "${w}" is not a window like 1m or 1h`);
  return w;
}

export async function analytics(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, { window: { type: 'string' }, last: { type: 'string' } });
  if (values.help) return (out(analyticsHelp), 0);
  const [id] = positionalArgs(positionals, ['id'], 'agentstate analytics <id> [--window 1h]');
  const window = windowLabel(asString(values.window), '1h');
  const last = parsePositiveInt(asString(values.last) ?? '24', '--last');
  const store = await openStore(backendKind(values.backend), values['data-dir'], process.env);
  if (!store) return (out(values.json ? JSON.stringify({ instanceId: id, windows: [], anomalies: [] }) : NO_DATA), 0);
  try {
    const windows = (await store.metrics({ instanceIds: [id!], window })).slice(-last);
    const anomalies = await new StateAnalyticsService(store, { window }).detectStateAnomalies(id!);
    // The storage figures and the compression ratio read the state store and the blob store too: one of them down costs those lines, not the command.
    const range = windows.length === 0 ? undefined : { start: windows[0]!.windowStart, end: windows.at(-1)!.windowEnd };
    let storage: AgentStorageAnalysis | undefined;
    let metrics: StateMetrics | undefined;
    let storageError: string | undefined;
    try {
      ({ storage, metrics } = await storeFiguresOf(store, window, id!, range, backendKind(values.backend), values['data-dir'], process.env));
    } catch (err) {
      storageError = (err as Error).message;
    }
    if (range && !metrics) metrics = await new StateAnalyticsService(store, { window }).getStateMetrics(id!, range);
    if (values.json) {
      out(
        JSON.stringify(
          { instanceId: id, window, windows: windows.map((w) => ({ ...w, ...figures(w) })), metrics: metrics ?? null, anomalies, storage: storage ?? null, ...(storageError ? { storageError } : {}) },
          null,
          2,
        ),
      );
      return 0;
    }
    if (windows.length === 0) out(`no ${window} windows for ${id}`);
    else {
      const rows = windows.map((w) => {
        const f = figures(w);
        return [
          new Date(w.windowStart).toISOString(),
          String(w.events),
          String(w.sizeEnd),
          signed(w.sizeEnd - w.sizeStart),
          String(w.changesetBytes),
          String(w.errors),
          f.taskCompletionRate === null ? '-' : `${(f.taskCompletionRate * 100).toFixed(0)}%`,
          f.averageExecutionTime === null ? '-' : `${f.averageExecutionTime.toFixed(0)}ms`,
          String(w.writesRejected),
        ];
      });
      table(['WINDOW', 'EVENTS', 'BYTES', 'GROWTH', 'CHANGESET', 'ERRORS', 'COMPLETED', 'EXEC', 'REJECTED'], rows, out);
    }
    if (metrics) printPerformance(metrics, out);
    printAnomalies(anomalies, await store.hosts(), out);
    if (storage) printStorage(storage, out);
    if (storageError) out(`\nstorage figures unavailable: ${storageError}`);
    return 0;
  } finally {
    await store.close();
  }
}

/**
 * The agent's bytes in each store (docs/analytics.md, Storage): the state
 * store and the blob store are opened for it alone. Undefined on the embedded
 * profile before any store exists. On servers, without S3_ENDPOINT/S3_BUCKET
 * the blob figures are left at 0 (the store figures stand).
 */
async function storeFiguresOf(
  analytics: AnalyticsStore,
  window: string,
  id: string,
  range: { start: number; end: number } | undefined,
  kind: 'auto' | 'embedded' | 'servers',
  dataDir: string,
  env: NodeJS.ProcessEnv,
): Promise<{ storage: AgentStorageAnalysis | undefined; metrics: StateMetrics | undefined }> {
  const state: StateStore | undefined = await openStoreOnly(kind, dataDir, env, "size the agent's store records");
  if (!state) return { storage: undefined, metrics: undefined };
  let blobs: BlobStore | undefined;
  try {
    const config = readEnv(env);
    const servers = kind === 'servers' || (kind === 'auto' && config.kafka !== undefined);
    if (!servers) blobs = new FsBlobStore({ dir: join(resolve(dataDir), 'blobs') });
    else if (config.s3) {
      await probeServers({ s3: config.s3 }, ENV_SETTING_NAMES, config.connectTimeoutMs);
      blobs = new S3BlobStore({ ...config.s3, prefix: config.topicPrefix, createBucket: false });
    }
    const service = new StateAnalyticsService(analytics, { window, storage: { store: state, ...(blobs ? { blobs } : {}) } });
    return { storage: (await service.analyzeStorageUtilization([id])).perAgent[0], metrics: range ? await service.getStateMetrics(id, range) : undefined };
  } finally {
    await blobs?.close();
    await state.close();
  }
}

/** The seed's read/write/cache/compression figures over the windows shown; `-` where nothing was measured. */
function printPerformance(m: StateMetrics, out: (s: string) => void): void {
  const ms = (v: number | null): string => (v === null ? '-' : `${v.toFixed(2)} ms`);
  const { reads, cacheHits, cacheMisses, writes } = m.access;
  out('');
  table(
    ['PERFORMANCE', 'VALUE', 'FROM'],
    [
      ['average read time', ms(m.performanceMetrics.averageReadTime), `${reads} read(s) through a StateManager`],
      ['average write time', ms(m.performanceMetrics.averageWriteTime), `${writes} acknowledged write(s)`],
      ['cache hit rate', m.performanceMetrics.cacheHitRate === null ? '-' : `${(m.performanceMetrics.cacheHitRate * 100).toFixed(1)}%`, `${cacheHits} hit(s), ${cacheMisses} miss(es)`],
      ['compression ratio', m.compressionRatio === null ? '-' : m.compressionRatio.toFixed(2), `${m.compression.originalBytes} raw / ${m.compression.storedBytes} stored bytes, ${m.compression.encodings} encoding(s)`],
      ['error rate', `${(m.performanceMetrics.errorRate * 100).toFixed(1)}%`, `${m.events} event(s)`],
    ],
    out,
  );
}

function printStorage(s: AgentStorageAnalysis, out: (s: string) => void): void {
  out('');
  table(
    ['STORAGE', 'BYTES', 'WHAT'],
    [
      ['log', String(s.logBytes), 'its events records on the log (key + headers + value) in the retained windows'],
      ['log payload', String(s.logChangesetBytes), 'changeset bytes of those events'],
      ['store (est.)', String(s.storeBytesEstimated), `BSON size of ${s.storeRecords.states} state, ${s.storeRecords.events} event, ${s.storeRecords.snapshots} snapshot record(s)`],
      ['snapshots', String(s.snapshotBlobBytes), `${s.snapshots} snapshot blob(s)${s.snapshotBlobsMissing ? `, ${s.snapshotBlobsMissing} MISSING` : ''}`],
      ['state blob', String(s.stateBlobBytes), 'claim-check blob of the current state (0: inline)'],
      [
        'backup (est.)',
        String(s.backupBytesApportioned),
        `its share of ${s.backupSegments} segment(s) of ${s.backupSegmentBytes} bytes${s.backupManifestsUnreadable ? `, ${s.backupManifestsUnreadable} manifest(s) unreadable` : ''}`,
      ],
    ],
    out,
  );
  if (!s.blobsMeasured) out('(no blob store: S3_ENDPOINT/S3_BUCKET unset, so snapshot, state blob and backup bytes were not measured)');
}

export async function anomalies(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, { since: { type: 'string' }, type: { type: 'string' }, status: { type: 'string' }, agent: { type: 'string' } });
  if (values.help) return (out(anomaliesHelp), 0);
  positionalArgs(positionals, [], 'agentstate anomalies [--since 10m] [--type loop]');
  const since = parseDuration(asString(values.since) ?? '1h', '--since');
  const type = asString(values.type);
  if (type !== undefined && !(ANOMALY_TYPES as readonly string[]).includes(type)) throw new UsageError(`--type: "${type}" is not one of ${ANOMALY_TYPES.join(', ')}`);
  const status = asString(values.status);
  if (status !== undefined && status !== 'active' && status !== 'resolved') throw new UsageError('--status: active or resolved');
  const store = await openStore(backendKind(values.backend), values['data-dir'], process.env);
  if (!store) return (out(values.json ? '[]' : NO_DATA), 0);
  try {
    const agent = asString(values.agent);
    const list = await store.anomalies({
      since: Date.now() - since,
      ...(type ? { type: type as AnomalyType } : {}),
      ...(status ? { status } : {}),
      ...(agent ? { instanceId: agent } : {}),
    });
    if (values.json) out(JSON.stringify(list, null, 2));
    else printAnomalies(list, await store.hosts(), out);
    return 0;
  } finally {
    await store.close();
  }
}

export async function top(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, { window: { type: 'string' }, rows: { type: 'string' }, interval: { type: 'string' }, count: { type: 'string' } });
  if (values.help) return (out(topHelp), 0);
  positionalArgs(positionals, [], 'agentstate top');
  const window = windowLabel(asString(values.window), '1m');
  const rows = parsePositiveInt(asString(values.rows) ?? '20', '--rows');
  const interval = parseDuration(asString(values.interval) ?? '2s', '--interval');
  const count = asString(values.count) === undefined ? Infinity : parsePositiveInt(asString(values.count)!, '--count');
  const store = await openStore(backendKind(values.backend), values['data-dir'], process.env);
  if (!store) return (out(NO_DATA), 0);
  const tty = process.stdout.isTTY === true && !values.json;
  let stop = false;
  const onSignal = (): void => void (stop = true);
  process.once('SIGINT', onSignal);
  try {
    for (let n = 0; n < count && !stop; n++) {
      const frame = await topFrame(store, window, rows);
      if (values.json) out(JSON.stringify(frame));
      else {
        if (tty) out('\x1b[2J\x1b[H');
        out(`agentstate top — ${frame.agents} agents, ${frame.activeAnomalies} active anomalies, window ${window} — ${new Date().toISOString()}`);
        table(
          ['AGENT', 'TYPE', 'VERSION', 'EVENTS/MIN', 'BYTES', 'ERRORS', 'ANOMALIES'],
          frame.rows.map((r) => [r.instanceId, r.agentType ?? '-', String(r.version), r.eventsPerMinute.toFixed(0), String(r.size), String(r.errors), r.anomalies.join(',') || '-']),
          out,
        );
        if (frame.nodes.length > 0) {
          out('');
          table(
            ['NODE', 'STATE', 'SILENT', 'AGENTS', 'HEAP MB'],
            frame.nodes.map((h) => [h.nodeId, h.state, `${Math.round(h.silentMs / 1000)}s`, String(h.load), h.heapUsedBytes === null ? '-' : (h.heapUsedBytes / 2 ** 20).toFixed(0)]),
            out,
          );
        }
      }
      if (n + 1 < count && !stop) await new Promise((r) => setTimeout(r, interval));
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    await store.close();
  }
}

interface TopRow {
  instanceId: string;
  agentType: string | null;
  version: number;
  eventsPerMinute: number;
  size: number;
  errors: number;
  anomalies: string[];
}

/** A runtime host in `top`: its state from its latest heartbeat, and its load. */
interface TopNode {
  nodeId: string;
  state: string;
  silentMs: number;
  load: number;
  heapUsedBytes: number | null;
}

/** One frame of `top`: agents by active anomalies, then events in their latest window, then size. */
async function topFrame(store: AnalyticsStore, window: string, n: number): Promise<{ agents: number; activeAnomalies: number; rows: TopRow[]; nodes: TopNode[] }> {
  const agents = await store.agents();
  const ms = durationMs(window)!;
  const newest = Math.max(0, ...agents.map((a) => a.lastEventAt ?? 0));
  const latest = new Map<string, { events: number; errors: number }>();
  for (const w of await store.metrics({ window, from: Math.floor(newest / ms) * ms - ms })) {
    const prev = latest.get(w.instanceId);
    if (!prev || w.windowStart >= newest - ms) latest.set(w.instanceId, { events: w.events, errors: w.errors });
  }
  const rows = agents.map((a) => ({
    instanceId: a.instanceId,
    agentType: a.agentType,
    version: a.version,
    eventsPerMinute: ((latest.get(a.instanceId)?.events ?? 0) * 60_000) / ms,
    size: a.size,
    errors: latest.get(a.instanceId)?.errors ?? 0,
    anomalies: a.activeAnomalies,
  }));
  rows.sort((a, b) => b.anomalies.length - a.anomalies.length || b.eventsPerMinute - a.eventsPerMinute || b.size - a.size || a.instanceId.localeCompare(b.instanceId));
  const now = Date.now();
  const nodes = (await store.hosts()).map((h) => ({ nodeId: h.nodeId, ...hostState(h, now), load: h.load, heapUsedBytes: h.heapUsedBytes }));
  return { agents: agents.length, activeAnomalies: rows.reduce((t, r) => t + r.anomalies.length, 0), rows: rows.slice(0, n), nodes };
}

/** HOST: the agent's runtime host now, from its heartbeats (a stalled agent on a live host is hung itself). */
function printAnomalies(list: AnomalyRecord[], hosts: HostRecord[], out: (s: string) => void): void {
  if (list.length === 0) return out('no anomalies');
  const now = Date.now();
  table(
    ['TYPE', 'SEVERITY', 'STATUS', 'AGENT', 'FIRST SEEN', 'LAST SEEN', 'VERSIONS', 'HOST', 'WHAT'],
    list.map((a) => [
      a.type,
      a.severity,
      a.status,
      a.instanceId,
      new Date(a.firstSeenAt).toISOString(),
      new Date(a.lastSeenAt).toISOString(),
      `${a.fromVersion}-${a.toVersion}`,
      hostVerdict(a, hosts, now),
      a.description,
    ]),
    out,
  );
}

function table(head: string[], rows: string[][], out: (s: string) => void): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  for (const r of [head, ...rows]) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}
