import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { AnalyticsConsumer, bodyReader, type AnalyticsStore } from '../../src/analytics/index.js';
import { JsonEventCodec } from '../../src/client/index.js';
import { buildFaultScenario } from '../../src/demo/faults.js';
import { SqliteEventLog } from '../../src/log/sqlite/index.js';
import { topicNames, topicSpecs } from '../../src/log/topics.js';
import { SqliteAnalyticsStore } from '../../src/store/sqlite/analytics.js';
import { BRUTE_FIELDS, bruteForceWindows } from '../support/analytics-brute.js';
import { appendEvents } from '../support/analytics-scenario.js';
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

describe('analytics service survives kill -9 under a write load (embedded profile)', () => {
  it('after SIGKILLs mid-stream and a restart, no window is double-counted or missing and the anomalies equal a clean run', async () => {
    const prefix = 'e2e.';
    const topics = topicNames(prefix);
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite'), pollIntervalMs: 20 });
    await log.setup(topicSpecs({ prefix, partitions: 4 }));
    const codec = new JsonEventCodec();
    const scenario = buildFaultScenario({ seed: 9, healthy: 8, perFault: 1, durationMs: 60_000, faultFromMs: 30_000, faultToMs: 40_000 });
    const group = `${prefix}analytics`;
    const env = {
      AGENTSTATE_DATA_DIR: dir,
      AGENTSTATE_TOPIC_PREFIX: prefix,
      ANALYTICS_WINDOWS: Object.keys(WINDOWS).join(','),
      ANALYTICS_MAX_BATCH: '100',
      METRICS_PORT: '0',
      LOG_LEVEL: 'warn',
      KAFKA_BROKERS: '',
    };
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
      for (let kill = 0; kill < 3; kill++) {
        const before = await committed();
        const s = startService(env);
        for (let w = 0; (await committed()) < before + 150n; w++) {
          expect(w, `run ${kill} committed nothing: ${s.output()}`).toBeLessThan(600);
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

      const store = new SqliteAnalyticsStore({ path: join(dir, 'analytics.sqlite') });
      await store.setup();
      const survived = await all(store);
      await store.close();
      // Windows: exactly the brute-force recomputation (a double-counted or missing record would show).
      const brute = await bruteForceWindows(log, topics.events, codec, WINDOWS);
      expect(survived.windows.length).toBe(brute.size);
      const pick = (x: object) => Object.fromEntries(BRUTE_FIELDS.map((f) => [f, (x as Record<string, unknown>)[f]]));
      for (const w of survived.windows) expect(pick(w), w._id).toEqual(pick(brute.get(w._id)!));
      // Anomalies: what one uninterrupted run flags.
      const clean = new SqliteAnalyticsStore({ path: join(dir, 'clean.sqlite') });
      await clean.setup();
      await new AnalyticsConsumer({ log, store: clean, read: bodyReader(), topicPrefix: prefix, group: `${prefix}clean`, windows: WINDOWS }).runUntilCaughtUp();
      const reference = await all(clean);
      await clean.close();
      expect(survived.anomalies).toEqual(reference.anomalies);
      expect(survived.windows).toEqual(reference.windows);
      expect(reference.anomalies.length).toBeGreaterThan(0);
    } finally {
      await load.catch(() => undefined);
      await log.close();
    }
  }, 240_000);
});
