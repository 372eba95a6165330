import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AnalyticsConsumer, AnomalyPublisher, bodyReader, jsonAnomaly, type AnalyticsStore, type AnomalyRecord, type BodyReader, type WindowAggregate } from '../../../src/analytics/index.js';
import { scoreAnomalies } from '../../../src/analytics/score.js';
import { JsonEventCodec, RegistryEventCodec } from '../../../src/client/index.js';
import type { EventCodec } from '../../../src/codec/event-codec.js';
import { RegistryCodec } from '../../../src/codec/registry.js';
import { buildFaultScenario } from '../../../src/demo/faults.js';
import { KafkaEventLog } from '../../../src/log/kafka/index.js';
import type { EventLog } from '../../../src/log/port.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { openAnalytics } from '../../../src/sdk/analytics.js';
import { hostRecord } from '../../../src/analytics/hosts.js';
import { heartbeatKey, type NodeHeartbeat } from '../../../src/runtime/types.js';
import { AvroRuntimeWire, JsonRuntimeWire, type RuntimeWire } from '../../../src/runtime/wire.js';
import { SqliteAnalyticsStore } from '../../../src/store/sqlite/analytics.js';
import { BRUTE_FIELDS, bruteForceWindows } from '../../support/analytics-brute.js';
import { CountingMetrics, appendEvents, badRecords } from '../../support/analytics-scenario.js';
import { stackEnv, uniqueName } from '../../support/env.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-analytics-int-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const WINDOWS = { '10s': 10_000, '1m': 60_000 };
const FIVE = ['loop', 'runaway_growth', 'error_burst', 'status_flapping', 'velocity_stall'];

interface Profile {
  log: EventLog;
  codec: EventCodec;
  store: AnalyticsStore;
  read: BodyReader;
  publisher: AnomalyPublisher;
  /** The runtime hosts' heartbeat wire (what a runtime host writes with). */
  wire: RuntimeWire;
  decodeAnomaly(v: Buffer): Promise<{ anomalyId: string; status: string; kind: string }>;
  close(): Promise<void>;
}

async function embedded(prefix: string): Promise<Profile> {
  const log = new SqliteEventLog({ path: join(dir, `${prefix}log.sqlite`), pollIntervalMs: 20 });
  await log.setup(topicSpecs({ prefix, partitions: 4 }));
  const store = new SqliteAnalyticsStore({ path: join(dir, `${prefix}analytics.sqlite`) });
  await store.setup();
  return {
    log,
    codec: new JsonEventCodec(),
    store,
    read: bodyReader(),
    publisher: new AnomalyPublisher(log, topicNames(prefix).anomalies, jsonAnomaly),
    wire: new JsonRuntimeWire(),
    decodeAnomaly: async (v) => JSON.parse(v.toString()) as { anomalyId: string; status: string; kind: string },
    close: async () => {
      await store.close();
      await log.close();
    },
  };
}

async function servers(prefix: string): Promise<Profile> {
  const env = stackEnv();
  const log = new KafkaEventLog({ brokers: env.kafkaBrokers });
  await log.setup(topicSpecs({ prefix, partitions: 3 }));
  const codec = await RegistryEventCodec.create(new RegistryCodec({ url: env.schemaRegistryUrl }), topicNames(prefix).events);
  const opened = await openAnalytics(log, prefix, { kind: 'servers', mongo: { uri: env.mongodbUri, database: uniqueName('an').replace(/[-.]/g, '_') }, schemaRegistryUrl: env.schemaRegistryUrl });
  const registry = new RegistryCodec({ url: env.schemaRegistryUrl });
  return {
    log,
    codec,
    store: opened.store,
    read: opened.read,
    publisher: opened.publisher,
    wire: new AvroRuntimeWire(new RegistryCodec({ url: env.schemaRegistryUrl }), topicNames(prefix)),
    decodeAnomaly: (v) => registry.decode(v),
    close: async () => {
      await opened.close();
      await log.close();
    },
  };
}

async function everything(store: AnalyticsStore): Promise<{ windows: WindowAggregate[]; anomalies: AnomalyRecord[] }> {
  const windows = (await Promise.all(Object.keys(WINDOWS).map((w) => store.metrics({ window: w })))).flat().sort((a, b) => a._id.localeCompare(b._id));
  const anomalies = (await store.anomalies({ limit: 100_000 })).sort((a, b) => a.anomalyId.localeCompare(b.anomalyId));
  return { windows, anomalies };
}

describe.each([
  ['embedded (SQLite log and store)', embedded],
  ['servers (Kafka + registry, MongoDB)', servers],
] as const)('analytics consumer on %s', (_name, open) => {
  it('flags the injected faults, matches a brute-force recomputation, skips bad input with reasons, and a reset to earliest rebuilds the same outputs', async () => {
    const prefix = `${uniqueName('an')}.`;
    const p = await open(prefix);
    try {
      const topics = topicNames(prefix);
      const scenario = buildFaultScenario({ seed: 5, healthy: 8, perFault: 1, durationMs: 70_000, faultFromMs: 35_000, faultToMs: 50_000 });
      await appendEvents(p.log, topics.events, p.codec, scenario.events);
      const bad = badRecords(scenario.events[0]!);
      await p.log.append(
        topics.events,
        bad.map((b) => b.record),
      );
      // Runtime hosts' heartbeats: node-a twice (the later one wins), node-b once, and one that does not decode.
      const [a1, a2] = scenario.labels.map((l) => l.instanceId);
      // Each carries access figures for a1 (docs/analytics.md, Access figures): their sums land in a1's access windows.
      const beat = (nodeId: string, sequence: number, agents: string[]): NodeHeartbeat => ({
        nodeId,
        host: 'box',
        dataCenter: null,
        region: null,
        timestamp: 1_767_225_600_000 + sequence,
        sequence,
        status: 'running',
        intervalMs: 1000,
        load: agents.length,
        heapUsedBytes: 1 << 20,
        agents: agents.map((instanceId) => ({ instanceId, version: 1, writerEpoch: 1, state: 'running' })),
        access: [{ instanceId: a1!, reads: sequence + 2, readMsTotal: 1.25 * sequence, cacheHits: sequence + 1, cacheMisses: 1, writes: 3 * sequence, writeMsTotal: 2.5 * sequence }],
      });
      const beats = [beat('node-a', 1, [a1!]), beat('node-b', 1, []), beat('node-a', 2, [a1!, a2!])];
      for (const h of beats) await p.log.append(topics.heartbeats, [{ key: heartbeatKey(h.nodeId), value: await p.wire.encodeHeartbeat(h) }]);
      await p.log.append(topics.heartbeats, [{ key: heartbeatKey('node-garbled'), value: Buffer.from('{"nodeId": 7}') }]);

      const metrics = new CountingMetrics();
      const group = `${prefix}analytics`;
      const consumer = (): AnalyticsConsumer =>
        new AnalyticsConsumer({ log: p.log, store: p.store, read: p.read, heartbeats: p.wire, publisher: p.publisher, topicPrefix: prefix, group, windows: WINDOWS, metrics, sessionTimeoutMs: 6000, restartDelayMs: 200 });
      await consumer().runUntilCaughtUp();

      // Bad input: counted by reason, never a crash.
      for (const b of bad) expect(metrics.get('agentstate_analytics_skipped_total', { reason: b.reason }), b.reason).toBe(1);
      // Hosts: each one's latest heartbeat; the garbled one counted and skipped (at least once:
      // on Kafka a heartbeat batch redelivered after a rebalance is counted again, and harmlessly rewritten).
      expect(await p.store.hosts()).toEqual([hostRecord(beats[2]!), hostRecord(beats[1]!)]);
      // Access figures: every heartbeat's counted once into a1's window of each label, through this wire (JSON or Avro).
      for (const label of Object.keys(WINDOWS)) {
        const [w, ...more] = await p.store.access({ instanceIds: [a1!], window: label });
        expect(more).toEqual([]);
        expect(w).toMatchObject({ reads: 3 + 3 + 4, readMsTotal: 1.25 * 4, cacheHits: 2 + 2 + 3, cacheMisses: 3, writes: 3 * 4, writeMsTotal: 2.5 * 4 });
      }
      expect(metrics.get('agentstate_analytics_skipped_total', { reason: 'malformed_heartbeat' })).toBeGreaterThanOrEqual(1);

      // Every window equals the brute-force recomputation from the log.
      const first = await everything(p.store);
      const brute = await bruteForceWindows(p.log, topics.events, p.codec, WINDOWS);
      expect(first.windows.length).toBe(brute.size);
      for (const w of first.windows) {
        const b = brute.get(w._id);
        expect(b, w._id).toBeDefined();
        const pick = (x: object) => Object.fromEntries(BRUTE_FIELDS.map((f) => [f, (x as Record<string, unknown>)[f]]));
        expect(pick(w), w._id).toEqual(pick(b!));
      }

      // The five injected faults flagged with their types; nothing else.
      const scores = scoreAnomalies(scenario.labels, first.anomalies, FIVE);
      for (const s of scores) expect({ type: s.type, missed: s.missedAgents, wrong: s.wrongAgents }).toEqual({ type: s.type, missed: [], wrong: [] });
      const healthy = new Set(scenario.labels.filter((l) => l.fault === null).map((l) => l.instanceId));
      expect(first.anomalies.filter((a) => healthy.has(a.instanceId))).toEqual([]);

      // Published: every anomaly opened on the topic, with the same id.
      const end = await p.log.endOffsets(topics.anomalies);
      const published: Array<{ anomalyId: string; status: string; kind: string }> = [];
      for (const [part, until] of Object.entries(end)) for (const r of await p.log.read(topics.anomalies, Number(part), '0', until)) published.push(await p.decodeAnomaly(r.value!));
      expect(new Set(published.filter((a) => a.status === 'active').map((a) => a.anomalyId))).toEqual(new Set(first.anomalies.map((a) => a.anomalyId)));

      // Replay: reset to earliest (with and without clearing the outputs) rebuilds the same documents.
      await p.log.resetGroup(group, topics.events, { to: 'earliest' });
      await consumer().runUntilCaughtUp();
      expect(await everything(p.store)).toEqual(first);
      await p.store.clear();
      await p.log.resetGroup(group, topics.events, { to: 'earliest' });
      await consumer().runUntilCaughtUp();
      expect(await everything(p.store)).toEqual(first);
    } finally {
      await p.close();
    }
  }, 300_000);
});
