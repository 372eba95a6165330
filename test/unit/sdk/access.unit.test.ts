import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AnalyticsConsumer, StateAnalyticsService } from '../../../src/analytics/index.js';
import { analytics } from '../../../src/cli/commands/analytics.js';
import { topicNames } from '../../../src/log/topics.js';
import { JsonRuntimeWire } from '../../../src/runtime/index.js';
import { FleetView } from '../../../src/recovery/view.js';
import { openAnalytics } from '../../../src/sdk/analytics.js';
import { openAgentState } from '../../../src/index.js';
import { SqliteEventLog } from '../../../src/embedded.js';
import { addAccessCounts, noAccess } from '../../../src/telemetry/access.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const HOUR = 3_600_000;

/** Heartbeat-topic records decoded, in offset order per partition. */
async function heartbeats(log: SqliteEventLog, prefix: string) {
  const wire = new JsonRuntimeWire();
  const topic = topicNames(prefix).heartbeats;
  const out = [];
  for (const [p, end] of Object.entries(await log.endOffsets(topic))) for (const r of await log.read(topic, Number(p), '0', end)) out.push({ key: r.key, beat: (await wire.decodeHeartbeat(r.value))! });
  return out;
}

describe("a plain SDK user's reads and writes (openAgentState, no runtime host) reach analytics (embedded profile)", () => {
  it('averageReadTime, averageWriteTime and cacheHitRate in getStateMetrics and agentstate analytics, counted once; the reporting process is no host', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentstate-sdk-access-'));
    dirs.push(dir);
    const prefix = 'agentstate.';
    const as = await openAgentState({ env: false, dataDir: dir, accessReportMs: 50 });
    let writes = 0;
    let reads = 0;
    await as.client.createAgent('sdk-a', { agentType: 'worker', status: 'idle' });
    writes++;
    for (let i = 0; i < 6; i++) {
      const { newVersion } = await as.client.memoryUpdated('sdk-a', { [`k${i}`]: `note ${i}` });
      writes++;
      expect((await as.manager.getCurrentState('sdk-a', { minVersion: newVersion }))?.version).toBe(newVersion);
      reads++;
    }
    // A report while the process runs (the periodic one), then the last at close.
    const probe = new SqliteEventLog({ path: join(dir, 'log.sqlite'), pollIntervalMs: 10 });
    const until = Date.now() + 10_000;
    while ((await heartbeats(probe, prefix)).length === 0) {
      expect(Date.now(), 'no access report within 10 s').toBeLessThan(until);
      await new Promise((r) => setTimeout(r, 20));
    }
    await as.client.memoryUpdated('sdk-a', { last: true });
    writes++;
    await as.close();

    const beats = await heartbeats(probe, prefix);
    expect(beats.length).toBeGreaterThanOrEqual(2);
    for (const { key, beat } of beats) {
      expect(beat.role).toBe('access');
      expect(beat.agents).toEqual([]);
      expect(key).toBe(`node:${beat.nodeId}`);
    }
    const sum = noAccess('sdk-a');
    for (const { beat } of beats) {
      for (const a of beat.access ?? []) {
        expect(a.instanceId).toBe('sdk-a');
        addAccessCounts(sum, a);
      }
    }
    // Exactly what this process did: nothing lost, nothing counted twice.
    expect({ reads: sum.reads, writes: sum.writes }).toEqual({ reads, writes });

    // The recovery service's view of the fleet takes no host from an access report.
    const view = new FleetView();
    for (const { beat } of beats) view.onHeartbeat(beat, Date.now());
    expect(view.nodes.size).toBe(0);

    const opened = await openAnalytics(probe, prefix, { kind: 'embedded', dataDir: dir });
    await new AnalyticsConsumer({ log: probe, store: opened.store, read: opened.read, heartbeats: opened.heartbeats, topicPrefix: prefix, windows: { '1h': HOUR } }).runUntilCaughtUp(undefined, 20);
    expect(await opened.store.hosts()).toEqual([]);
    const m = await new StateAnalyticsService(opened.store, { window: '1h' }).getStateMetrics('sdk-a', { start: 0, end: Date.now() + HOUR });
    const pm = m.performanceMetrics;
    expect(pm.averageReadTime).toBeCloseTo(sum.readMsTotal / sum.reads, 9);
    expect(pm.averageWriteTime).toBeCloseTo(sum.writeMsTotal / sum.writes, 9);
    expect(pm.averageReadTime!).toBeGreaterThan(0);
    expect(pm.averageWriteTime!).toBeGreaterThan(0);
    expect(pm.cacheHitRate).toBe(sum.cacheHits + sum.cacheMisses === 0 ? null : sum.cacheHits / (sum.cacheHits + sum.cacheMisses));
    expect(m.access).toEqual({ reads, cacheHits: sum.cacheHits, cacheMisses: sum.cacheMisses, writes });
    await opened.close();
    await probe.close();

    const lines: string[] = [];
    expect(await analytics(['sdk-a', '--backend', 'embedded', '--data-dir', dir], (s) => lines.push(s))).toBe(0);
    expect(lines.join('\n')).toContain(`average read time   ${pm.averageReadTime!.toFixed(2)} ms`);
    expect(lines.join('\n')).toContain(`average write time  ${pm.averageWriteTime!.toFixed(2)} ms`);
  }, 60_000);

  it('accessReportMs 0 sends none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentstate-sdk-access-'));
    dirs.push(dir);
    const as = await openAgentState({ env: false, dataDir: dir, accessReportMs: 0 });
    const { newVersion } = await as.client.createAgent('sdk-b', { agentType: 'worker' });
    await as.manager.getCurrentState('sdk-b', { minVersion: newVersion });
    await as.close();
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite'), pollIntervalMs: 10 });
    expect(await heartbeats(log, 'agentstate.')).toEqual([]);
    await log.close();
  });
});
