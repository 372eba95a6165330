import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { AnalyticsConsumer, bodyReader, type AnalyticsStore, type BodyReader } from '../../src/analytics/index.js';
import { JsonEventCodec, RegistryEventCodec } from '../../src/client/index.js';
import type { EventCodec } from '../../src/codec/event-codec.js';
import { RegistryCodec } from '../../src/codec/registry.js';
import { buildFaultScenario } from '../../src/demo/faults.js';
import { KafkaEventLog } from '../../src/log/kafka/index.js';
import type { EventLog } from '../../src/log/port.js';
import { SqliteEventLog } from '../../src/log/sqlite/index.js';
import { topicNames, topicSpecs } from '../../src/log/topics.js';
import { MongoAnalyticsStore } from '../../src/store/mongo/analytics.js';
import { MongoConnection } from '../../src/store/mongo/connection.js';
import { SqliteAnalyticsStore } from '../../src/store/sqlite/analytics.js';
import { BRUTE_FIELDS, bruteForceWindows } from '../support/analytics-brute.js';
import { appendEvents } from '../support/analytics-scenario.js';
import { stackEnv, uniqueName } from '../support/env.js';
import { repoRoot } from '../support/kill-child.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-analytics-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const WINDOWS = { '10s': 10_000, '1m': 60_000 };

function startService(env: Record<string, string>, args: string[] = []): { child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'services/analytics/main.ts'), ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  return { child, exited, output: () => out };
}

async function all(store: AnalyticsStore) {
  const windows = (await Promise.all(Object.keys(WINDOWS).map((w) => store.metrics({ window: w })))).flat().sort((a, b) => a._id.localeCompare(b._id));
  const anomalies = (await store.anomalies({ limit: 100_000 })).sort((a, b) => a.anomalyId.localeCompare(b.anomalyId));
  return { windows, anomalies };
}

/** One profile's log, codec, service environment and stores. */
interface Profile {
  prefix: string;
  log: EventLog;
  codec: EventCodec;
  read: BodyReader;
  env: Record<string, string>;
  /** kill -9s under load: fewer on Kafka, where each restart first waits out the killed member's session. */
  kills: number;
  /** The store the service wrote (a new connection, as another process would open it). */
  openStore(name: 'service' | 'clean'): Promise<{ store: AnalyticsStore; close(): Promise<void> }>;
  close(): Promise<void>;
}

const COMMON_ENV = { ANALYTICS_WINDOWS: Object.keys(WINDOWS).join(','), ANALYTICS_MAX_BATCH: '100', ANALYTICS_SESSION_TIMEOUT_MS: '6000', METRICS_PORT: '0', LOG_LEVEL: 'warn' };

async function embedded(): Promise<Profile> {
  const prefix = 'e2e.';
  const log = new SqliteEventLog({ path: join(dir, 'log.sqlite'), pollIntervalMs: 20 });
  await log.setup(topicSpecs({ prefix, partitions: 4 }));
  const sqlite = async (file: string) => {
    const store = new SqliteAnalyticsStore({ path: join(dir, file) });
    await store.setup();
    return { store, close: () => store.close() };
  };
  return {
    prefix,
    log,
    codec: new JsonEventCodec(),
    read: bodyReader(),
    env: { ...COMMON_ENV, AGENTSTATE_DATA_DIR: dir, AGENTSTATE_TOPIC_PREFIX: prefix, KAFKA_BROKERS: '' },
    kills: 3,
    openStore: (name) => sqlite(name === 'service' ? 'analytics.sqlite' : 'clean.sqlite'),
    close: () => log.close(),
  };
}

// The shared stack's Kafka, registry and FerretDB, with a topic prefix and databases of its own.
async function servers(): Promise<Profile> {
  const stack = stackEnv();
  const prefix = `${uniqueName('e2e-an')}.`;
  const database = uniqueName('e2e_an').replace(/-/g, '_');
  const log = new KafkaEventLog({ brokers: stack.kafkaBrokers });
  await log.setup(topicSpecs({ prefix, partitions: 3 }));
  const registry = new RegistryCodec({ url: stack.schemaRegistryUrl });
  const mongo = async (db: string) => {
    const connection = await MongoConnection.connect({ uri: stack.mongodbUri, database: db });
    const store = new MongoAnalyticsStore(connection);
    await store.setup();
    return { store, close: () => connection.close(), drop: () => connection.db.dropDatabase() };
  };
  return {
    prefix,
    log,
    codec: await RegistryEventCodec.create(registry, topicNames(prefix).events),
    read: bodyReader((v) => registry.decode(v)),
    env: { ...COMMON_ENV, KAFKA_BROKERS: stack.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl, MONGODB_URI: stack.mongodbUri, AGENTSTATE_MONGO_DATABASE: database, AGENTSTATE_TOPIC_PREFIX: prefix },
    kills: 2,
    openStore: (name) => mongo(name === 'service' ? database : `${database}_clean`),
    close: async () => {
      for (const db of [database, `${database}_clean`]) {
        const m = await mongo(db);
        await m.drop().catch(() => undefined);
        await m.close();
      }
      await log.close();
    },
  };
}

describe.each([
  ['embedded (SQLite log and store)', embedded],
  ['servers (Kafka + registry, MongoDB)', servers],
] as const)('analytics service survives kill -9 under a write load, %s', (_name, open) => {
  it('after SIGKILLs mid-stream and a restart, no window is double-counted or missing and the anomalies equal a clean run', async () => {
    const p = await open();
    const { prefix, log, codec, env } = p;
    const topics = topicNames(prefix);
    const scenario = buildFaultScenario({ seed: 9, healthy: 8, perFault: 1, durationMs: 60_000, faultFromMs: 30_000, faultToMs: 40_000 });
    const group = `${prefix}analytics`;
    // The load: the scenario's events arrive in small chunks while the service is killed and restarted.
    let appended = 0;
    const load = (async () => {
      for (let i = 0; i < scenario.events.length; i += 150) {
        await appendEvents(log, topics.events, codec, scenario.events.slice(i, i + 150));
        appended = Math.min(scenario.events.length, i + 150);
        await sleep(40);
      }
    })();
    const committed = async (): Promise<bigint> => Object.values(await log.committedOffsets(group, topics.events)).reduce((t, o) => t + BigInt(o), 0n);
    try {
      for (let kill = 0; kill < p.kills; kill++) {
        const before = await committed();
        const s = startService(env);
        // On Kafka a restarted member waits for the killed one's session (6 s) to expire first.
        for (let w = 0; (await committed()) < before + 150n; w++) {
          expect(w, `run ${kill} committed nothing: ${s.output()}`).toBeLessThan(1200);
          await sleep(50);
        }
        await sleep(kill * 37); // a varied moment: mid-batch, mid-write, between batches
        s.child.kill('SIGKILL');
        expect((await s.exited).signal).toBe('SIGKILL');
      }
      await load;
      expect(appended).toBe(scenario.events.length);
      const last = startService(env, ['--until-caught-up']);
      const { code } = await last.exited;
      expect(code, last.output()).toBe(0);

      const service = await p.openStore('service');
      const survived = await all(service.store);
      await service.close();
      // Windows: exactly the brute-force recomputation (a double-counted or missing record would show).
      const brute = await bruteForceWindows(log, topics.events, codec, WINDOWS);
      expect(survived.windows.length).toBe(brute.size);
      const pick = (x: object) => Object.fromEntries(BRUTE_FIELDS.map((f) => [f, (x as Record<string, unknown>)[f]]));
      for (const w of survived.windows) expect(pick(w), w._id).toEqual(pick(brute.get(w._id)!));
      // Anomalies: what one uninterrupted run flags.
      const clean = await p.openStore('clean');
      await new AnalyticsConsumer({ log, store: clean.store, read: p.read, topicPrefix: prefix, group: `${prefix}clean`, windows: WINDOWS, sessionTimeoutMs: 6000 }).runUntilCaughtUp();
      const reference = await all(clean.store);
      await clean.close();
      expect(survived.anomalies).toEqual(reference.anomalies);
      expect(survived.windows).toEqual(reference.windows);
      expect(reference.anomalies.length).toBeGreaterThan(0);
    } finally {
      await load.catch(() => undefined);
      await p.close();
    }
  }, 240_000);
});
