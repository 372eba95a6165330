import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessLabel, addAccess, emptyAccessWindow } from '../../../src/analytics/access.js';
import type { AnomalyRecord } from '../../../src/analytics/anomaly.js';
import { emptyDetectorState } from '../../../src/analytics/detectors.js';
import type { AgentCheckpoint, PartitionCheckpoint } from '../../../src/analytics/fold.js';
import type { AnalyticsStore } from '../../../src/analytics/port.js';
import { emptyWindow, type WindowAggregate } from '../../../src/analytics/window.js';

/** One storage location (a database, a file) a store can be opened on; `cleanup` removes it. */
export interface AnalyticsStorage {
  store: AnalyticsStore;
  cleanup(): Promise<void>;
}

const T0 = 1_767_225_600_000;

/** A closed 1m window of agent `i`, with figures that differ per agent and per `round`. */
export function windowOf(i: number, round: number): WindowAggregate {
  const w = emptyWindow(`agent-${i}`, 'planner', '1m', 60_000, T0 + (i % 7) * 60_000, i % 3, 100 + i);
  return {
    ...w,
    lastOffset: String(i * 10 + round),
    events: 5 + round,
    eventTypes: { state_updated: 4 + round, task_assigned: 1 },
    lastVersion: 9 + round,
    sizeEnd: 120 + i + round,
    rejectReasons: { stale_epoch: round },
  };
}

/** A checkpoint with every kind of detector memory filled in, the flap history included. */
export function checkpointOf(i: number, round: number): AgentCheckpoint {
  const det = emptyDetectorState();
  det.sums = ['a1', 'b2'];
  det.eventTs = [T0 + 1, T0 + 2 + round];
  det.flaps = [
    { at: T0 + 3, status: 'idle' },
    { at: T0 + 4, status: 'busy' },
    { at: T0 + 5 + round, status: 'idle' },
  ];
  det.status = 'idle';
  det.active = { status_flapping: anomalyOf(i, round) };
  return {
    _id: `agent-${i}`,
    instanceId: `agent-${i}`,
    partition: i % 3,
    lastOffset: String(i * 10 + round),
    head: { version: 9 + round, epoch: 1 },
    agentType: 'planner',
    size: 120 + i,
    clock: T0 + 5 + round,
    windows: { '1m': windowOf(i, round) },
    det,
  };
}

export function anomalyOf(i: number, round: number): AnomalyRecord {
  return {
    anomalyId: `an-${i}`,
    instanceId: `agent-${i}`,
    agentType: 'planner',
    type: 'status_flapping',
    severity: 'warning',
    status: 'active',
    firstSeenAt: T0 + 3,
    lastSeenAt: T0 + 5 + round,
    resolvedAt: null,
    fromVersion: 3,
    toVersion: 9 + round,
    observed: 3,
    expected: 6,
    score: null,
    description: 'status flipped',
    evidence: { flips: String(3 + round), statuses: 'idle,busy' },
  };
}

function batch(from: number, n: number, round: number, partition: PartitionCheckpoint) {
  const ids = Array.from({ length: n }, (_, k) => from + k);
  return { windows: ids.map((i) => windowOf(i, round)), anomalies: ids.map((i) => anomalyOf(i, round)), agents: ids.map((i) => checkpointOf(i, round)), partition };
}

/**
 * The AnalyticsStore contract, run on every adapter (STYLE.md habit 2): what
 * is written reads back exactly (detector memory included, since a restart
 * resumes from it), a batch written twice leaves the same documents, and a
 * batch that replaces hundreds of existing documents completes (FerretDB
 * 1.24 on PostgreSQL deadlocked on exactly that shape: src/store/mongo/analytics.ts).
 */
export function analyticsStoreContract(name: string, open: () => Promise<AnalyticsStorage>): void {
  describe(`AnalyticsStore contract: ${name}`, () => {
    let s: AnalyticsStorage;
    beforeAll(async () => {
      s = await open();
      await s.store.setup();
      await s.store.setup(); // idempotent
    });
    afterAll(async () => {
      await s.store.close();
      await s.store.close(); // safe twice
      await s.cleanup();
    });

    it('reads back exactly what a batch wrote, checkpoints and detector memory included; rewriting replaces', async () => {
      await s.store.clear();
      const p0: PartitionCheckpoint = { _id: 'p0', partition: 0, nextOffset: '42', watermark: T0 + 9, tick: T0 + 8 };
      const b = batch(0, 9, 0, p0);
      await s.store.writeBatch(b);
      await s.store.writeBatch(b); // a redelivered batch
      const byId = <T extends { _id: string }>(xs: T[]) => [...xs].sort((x, y) => x._id.localeCompare(y._id));
      expect(byId(await s.store.metrics({ window: '1m' }))).toEqual(byId(b.windows));
      expect(await s.store.metrics({ window: '1m', instanceIds: ['agent-4'] })).toEqual([windowOf(4, 0)]);
      expect((await s.store.metrics({ window: '1m', from: T0 + 60_000, to: T0 + 120_000 })).map((w) => w.instanceId).sort()).toEqual(['agent-1', 'agent-8']);
      const loaded = await s.store.loadPartition(0);
      expect(loaded.partition).toEqual(p0);
      expect(byId(loaded.agents)).toEqual(byId(b.agents.filter((a) => a.partition === 0)));
      expect(await s.store.anomalies({ instanceId: 'agent-2' })).toEqual([anomalyOf(2, 0)]);
      expect((await s.store.agents()).find((a) => a.instanceId === 'agent-2')).toEqual({ instanceId: 'agent-2', agentType: 'planner', size: 122, version: 9, lastEventAt: T0 + 5, activeAnomalies: ['status_flapping'] });

      const again = batch(0, 9, 1, { ...p0, nextOffset: '50' });
      await s.store.writeBatch(again);
      expect(byId(await s.store.metrics({ window: '1m' }))).toEqual(byId(again.windows));
      expect(byId((await s.store.loadPartition(0)).agents)).toEqual(byId(again.agents.filter((a) => a.partition === 0)));
      expect((await s.store.loadPartition(0)).partition?.nextOffset).toBe('50');
    });

    it('a batch replacing 120 existing windows, anomalies and checkpoints completes and leaves the new documents', async () => {
      await s.store.clear();
      const p: PartitionCheckpoint = { _id: 'p1', partition: 1, nextOffset: '1', watermark: T0, tick: T0 };
      await s.store.writeBatch(batch(0, 120, 0, p));
      const second = batch(0, 120, 1, { ...p, nextOffset: '2' });
      await s.store.writeBatch(second);
      const windows = await s.store.metrics({ window: '1m' });
      expect(windows.length).toBe(120);
      expect(windows.every((w) => w.events === 6)).toBe(true);
      expect((await s.store.anomalies({ limit: 1000 })).every((a) => a.toVersion === 10)).toBe(true);
      expect((await s.store.loadPartition(1)).agents.every((a) => a.det.flaps.length === 3 && a.det.flaps[2]!.at === T0 + 6)).toBe(true);
    });

    it('keeps the latest heartbeat per host, replaced by nodeId', async () => {
      await s.store.clear();
      const host = (nodeId: string, sequence: number, agents: string[]) => ({
        _id: nodeId,
        nodeId,
        host: 'h1',
        region: null,
        timestamp: T0 + sequence * 1000,
        sequence,
        intervalMs: 1000,
        status: 'running' as const,
        load: agents.length,
        heapUsedBytes: 5_000_000,
        agents,
      });
      await s.store.writeHosts([host('node-a', 1, ['agent-1']), host('node-b', 1, [])]);
      await s.store.writeHosts([host('node-a', 2, ['agent-1', 'agent-2'])]);
      expect(await s.store.hosts()).toEqual([host('node-a', 2, ['agent-1', 'agent-2']), host('node-b', 1, [])]);
      await s.store.clear();
      expect(await s.store.hosts()).toEqual([]);
    });

    it('keeps access windows apart from the event windows: replaced by _id, queried by plain label and range, expired by their own label', async () => {
      await s.store.clear();
      await s.store.writeBatch(batch(0, 2, 0, { _id: 'p0', partition: 0, nextOffset: '1', watermark: T0, tick: T0 }));
      const aw = (id: string, at: number, reads: number) => {
        const w = emptyAccessWindow(id, '1m', 60_000, at);
        addAccess(w, { nodeId: 'node.a', timestamp: at, sequence: 1 }, { instanceId: id, reads, readMsTotal: reads * 1.5, cacheHits: reads - 1, cacheMisses: 1, writes: 2, writeMsTotal: 7.25 });
        return w;
      };
      await s.store.writeAccess([aw('agent-0', T0, 3), aw('agent-0', T0 + 60_000, 4), aw('agent-1', T0, 5)]);
      await s.store.writeAccess([aw('agent-0', T0, 6)]); // replaces
      expect(await s.store.access({ window: '1m', instanceIds: ['agent-0'] })).toEqual([aw('agent-0', T0, 6), aw('agent-0', T0 + 60_000, 4)]);
      expect(await s.store.access({ window: '1m', from: T0 + 1 })).toEqual([aw('agent-0', T0 + 60_000, 4)]);
      expect(await s.store.access({ window: '1h' })).toEqual([]);
      // The event windows of the same label do not see them, nor they the event windows.
      expect((await s.store.metrics({ window: '1m' })).map((w) => w._id).sort()).toEqual([windowOf(0, 0)._id, windowOf(1, 0)._id].sort());
      expect(await s.store.deleteWindowsBefore(accessLabel('1m'), T0 + 60_000 + 1)).toBe(2);
      expect((await s.store.access({ window: '1m' })).map((w) => w._id)).toEqual([aw('agent-0', T0 + 60_000, 4)._id]);
      expect(await s.store.metrics({ window: '1m' })).toHaveLength(2);
      await s.store.clear();
      expect(await s.store.access({ window: '1m' })).toEqual([]);
    });

    it('retention deletes the windows that ended before the cut, and clear drops everything', async () => {
      await s.store.clear();
      await s.store.writeBatch(batch(0, 7, 0, { _id: 'p2', partition: 2, nextOffset: '1', watermark: T0, tick: T0 }));
      // Windows of agents 0..6 start at T0 + i minutes and end a minute later.
      expect(await s.store.deleteWindowsBefore('1m', T0 + 3 * 60_000)).toBe(2);
      expect(await s.store.deleteWindowsBefore('1h', T0 + 99 * 60_000)).toBe(0);
      expect((await s.store.metrics({ window: '1m' })).map((w) => w.instanceId).sort()).toEqual(['agent-2', 'agent-3', 'agent-4', 'agent-5', 'agent-6']);
      await s.store.clear();
      expect(await s.store.metrics({ window: '1m' })).toEqual([]);
      expect(await s.store.anomalies({})).toEqual([]);
      expect(await s.store.agents()).toEqual([]);
      expect(await s.store.loadPartition(2)).toEqual({ partition: undefined, agents: [] });
    });
  });
}
