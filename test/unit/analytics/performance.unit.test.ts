import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AnalyticsConsumer, StateAnalyticsService, bodyReader } from '../../../src/analytics/index.js';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { MemoryCache } from '../../../src/cache/memory.js';
import { stateCacheKey } from '../../../src/cache/state-entry.js';
import { analytics } from '../../../src/cli/commands/analytics.js';
import { AgentStateClient, JsonEventCodec } from '../../../src/client/index.js';
import { decompressState } from '../../../src/codec/compression.js';
import { canonicalJson } from '../../../src/domain/index.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { StateManager } from '../../../src/manager/index.js';
import { Projector } from '../../../src/projector/index.js';
import { JsonRuntimeWire, RuntimeHost } from '../../../src/runtime/index.js';
import { SqliteAnalyticsStore } from '../../../src/store/sqlite/analytics.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { AccessRecorder } from '../../../src/telemetry/access.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-perf-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOUR = 3_600_000;

/**
 * The seed's read/write/cache/compression figures on the embedded profile,
 * from real signals: a writer and a StateManager sharing one AccessRecorder
 * with a runtime host, whose heartbeats carry the figures to the analytics
 * consumer; the projector's snapshot encodings in the state store.
 */
describe('averageReadTime, averageWriteTime, cacheHitRate and compressionRatio (embedded profile)', () => {
  it('are real numbers equal to a brute-force recomputation from the heartbeats on the log and the snapshot blobs, and agentstate analytics prints them', async () => {
    // The CLI's data dir layout: <dir>/log.sqlite, store.sqlite, blobs/, analytics.sqlite (the CLI's defaults).
    const prefix = 'agentstate.';
    const topics = topicNames(prefix);
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite'), pollIntervalMs: 10 });
    await log.setup(topicSpecs({ prefix, partitions: 2 }));
    const store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
    await store.setup();
    const blobs = new FsBlobStore({ dir: join(dir, 'blobs') });
    const cache = new MemoryCache();
    const codec = new JsonEventCodec();
    const snapshots = { everyEvents: 4, fullEvery: 2 };
    const stop = new AbortController();
    const projector = new Projector({ log, codec, store, blobs, cache, topicPrefix: prefix, snapshots, sweepIntervalMs: 0 });
    const projecting = projector.run(stop.signal);
    const recorder = new AccessRecorder();
    const client = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, bootstrap: false, scope: 'fleet', access: recorder });
    const manager = new StateManager({ store, blobs, cache, snapshots, access: recorder, pollMs: 5 });
    const wire = new JsonRuntimeWire();
    const host = new RuntimeHost({ nodeId: 'node-perf', log, client, wire, topicPrefix: prefix, heartbeatIntervalMs: 20, factories: {}, access: recorder });
    await host.start();

    // What this test did, per agent: the ground truth the figures must count.
    const truth = new Map<string, { writes: number; reads: number; hits: number; misses: number }>();
    const ids = ['perf-a', 'perf-b'];
    for (const [n, id] of ids.entries()) {
      const t = { writes: 0, reads: 0, hits: 0, misses: 0 };
      truth.set(id, t);
      await client.createAgent(id, { agentType: 'worker', status: 'idle' });
      t.writes++;
      let version = 1;
      for (let i = 0; i < 12; i++) {
        // A large, repetitive memory: the codec compresses it.
        const r = await client.updateState(id, (d) => void ((d as unknown as { memory: Record<string, string> }).memory[`k${i}`] = `note ${i} `.repeat(400 + 50 * n)));
        t.writes++;
        version = r.newVersion;
        // Read-your-write (it may wait for the projector); the view says whether the cache or the store answered.
        const view = (await manager.getCurrentState(id, { minVersion: version }))!;
        expect(view.version).toBe(version);
        t.reads++;
        if (view.source === 'cache') t.hits++;
        else t.misses++;
        if (i % 3 === 0) {
          await cache.delete(stateCacheKey(id));
          expect((await manager.getCurrentState(id))!.source).toBe('store');
          t.reads++;
          t.misses++;
        }
      }
    }
    await host.close(); // its last heartbeat carries what was recorded since the previous one
    stop.abort();
    await projecting;
    await client.close();

    const analyticsStore = new SqliteAnalyticsStore({ path: join(dir, 'analytics.sqlite') });
    await analyticsStore.setup();
    await new AnalyticsConsumer({ log, store: analyticsStore, read: bodyReader(), heartbeats: wire, topicPrefix: prefix, windows: { '1h': HOUR } }).runUntilCaughtUp(undefined, 20);
    const service = new StateAnalyticsService(analyticsStore, { window: '1h', storage: { store, blobs } });
    const range = { start: 0, end: Date.now() + HOUR };

    // Brute force: every heartbeat on the log decoded and summed (each host's heartbeat counted once), and every snapshot blob measured.
    const beats = [];
    for (const [p, end] of Object.entries(await log.endOffsets(topics.heartbeats))) {
      for (const r of await log.read(topics.heartbeats, Number(p), '0', end)) {
        const h = await wire.decodeHeartbeat(r.value);
        if (h) beats.push(h);
      }
    }
    expect(new Set(beats.map((h) => `${h.nodeId}|${h.timestamp}|${h.sequence}`)).size).toBe(beats.length);

    for (const id of ids) {
      const sum = { reads: 0, readMs: 0, hits: 0, misses: 0, writes: 0, writeMs: 0 };
      for (const h of beats) {
        for (const a of h.access ?? []) {
          if (a.instanceId !== id) continue;
          sum.reads += a.reads;
          sum.readMs += a.readMsTotal;
          sum.hits += a.cacheHits;
          sum.misses += a.cacheMisses;
          sum.writes += a.writes;
          sum.writeMs += a.writeMsTotal;
        }
      }
      const t = truth.get(id)!;
      expect(t.hits).toBeGreaterThan(0);
      expect(t.misses).toBeGreaterThan(0);
      // The heartbeats carried exactly what was done: nothing lost, nothing counted twice.
      expect({ reads: sum.reads, hits: sum.hits, misses: sum.misses, writes: sum.writes }).toEqual({ reads: t.reads, hits: t.hits, misses: t.misses, writes: t.writes });

      let raw = 0;
      let stored = 0;
      const snaps = await store.listSnapshots(id);
      expect(snaps.length).toBeGreaterThan(0);
      for (const s of snaps) {
        const blob = (await blobs.get(s.blobKey))!;
        stored += blob.length;
        raw += Buffer.byteLength(canonicalJson(await decompressState(blob)));
      }

      const m = await service.getStateMetrics(id, range);
      const pm = m.performanceMetrics;
      for (const v of [pm.averageReadTime, pm.averageWriteTime, pm.cacheHitRate, m.compressionRatio]) {
        expect(typeof v).toBe('number');
        expect(Number.isFinite(v)).toBe(true);
      }
      expect(pm.averageReadTime).toBeCloseTo(sum.readMs / sum.reads, 9);
      expect(pm.averageWriteTime).toBeCloseTo(sum.writeMs / sum.writes, 9);
      expect(pm.cacheHitRate).toBe(sum.hits / (sum.hits + sum.misses));
      expect(m.compressionRatio).toBe(raw / stored);
      expect(m.compressionRatio!).toBeGreaterThan(1.5); // the repetitive memory compresses
      expect(pm.averageReadTime!).toBeGreaterThan(0);
      expect(pm.averageWriteTime!).toBeGreaterThan(0);
      expect(m.access).toEqual({ reads: t.reads, cacheHits: t.hits, cacheMisses: t.misses, writes: t.writes });

      // The same figures in analyzeStatePerformance.
      const perf = await service.analyzeStatePerformance(id);
      expect(perf.averageReadTime).toBeCloseTo(sum.readMs / sum.reads, 9);
      expect(perf.averageWriteTime).toBeCloseTo(sum.writeMs / sum.writes, 9);
      expect(perf.cacheHitRate).toBe(sum.hits / (sum.hits + sum.misses));
    }

    // A second consumer run over the same log (the checkpoints say it is caught up) changes nothing; a fresh store rebuilt from the log gives the same figures.
    const first = await service.getStateMetrics('perf-a', range);
    const rebuilt = new SqliteAnalyticsStore({ path: join(dir, 'rebuilt.sqlite') });
    await rebuilt.setup();
    await new AnalyticsConsumer({ log, store: rebuilt, read: bodyReader(), heartbeats: wire, topicPrefix: prefix, group: 'rebuild', windows: { '1h': HOUR } }).runUntilCaughtUp(undefined, 20);
    const again = await new StateAnalyticsService(rebuilt, { window: '1h', storage: { store, blobs } }).getStateMetrics('perf-a', range);
    expect(again.performanceMetrics).toEqual(first.performanceMetrics);
    expect(again.access).toEqual(first.access);
    await rebuilt.close();

    await Promise.all([analyticsStore.close(), store.close(), blobs.close(), cache.close(), log.close()]);

    // The CLI prints them.
    const m = first;
    const lines: string[] = [];
    expect(await analytics(['perf-a', '--backend', 'embedded', '--data-dir', dir], (s) => lines.push(s))).toBe(0);
    const text = lines.join('\n');
    expect(text).toContain(`average read time   ${m.performanceMetrics.averageReadTime!.toFixed(2)} ms`);
    expect(text).toContain(`average write time  ${m.performanceMetrics.averageWriteTime!.toFixed(2)} ms`);
    expect(text).toContain(`cache hit rate      ${(m.performanceMetrics.cacheHitRate! * 100).toFixed(1)}%`);
    expect(text).toContain(`compression ratio   ${m.compressionRatio!.toFixed(2)}`);
    const json: string[] = [];
    expect(await analytics(['perf-a', '--backend', 'embedded', '--data-dir', dir, '--json'], (s) => json.push(s))).toBe(0);
    const parsed = JSON.parse(json.join('\n')) as { metrics: { performanceMetrics: unknown; compressionRatio: number } };
    expect(parsed.metrics.performanceMetrics).toEqual(m.performanceMetrics);
    expect(parsed.metrics.compressionRatio).toBe(m.compressionRatio);
  }, 60_000);
});
