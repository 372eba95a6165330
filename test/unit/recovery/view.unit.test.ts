import { describe, expect, it } from 'vitest';
import { PhiAccrualDetector } from '../../../src/recovery/phi.js';
import { backoffDelay, DEFAULT_POLICY } from '../../../src/recovery/policy.js';
import { FleetView } from '../../../src/recovery/view.js';
import { JsonRuntimeWire } from '../../../src/runtime/wire.js';
import type { NodeHeartbeat } from '../../../src/runtime/types.js';

const hb = (nodeId: string, sequence: number, timestamp: number, agents: [string, number][] = [], over: Partial<NodeHeartbeat> = {}): NodeHeartbeat => ({
  nodeId,
  host: null,
  dataCenter: null,
  region: null,
  timestamp,
  sequence,
  status: 'running',
  intervalMs: 1000,
  load: agents.length,
  heapUsedBytes: null,
  agents: agents.map(([instanceId, writerEpoch]) => ({ instanceId, version: 1, writerEpoch, state: 'running' })),
  ...over,
});

describe('phi-accrual detector', () => {
  it('suspects after about two silent intervals of a 1 s sender, and adapts to a slower one', () => {
    const fast = new PhiAccrualDetector(1000);
    for (let t = 0; t <= 10_000; t += 1000) fast.heartbeat(t);
    expect(fast.suspect(10_000 + 1500)).toBe(false);
    expect(fast.suspect(10_000 + 3000)).toBe(true);
    const slow = new PhiAccrualDetector(1000);
    for (let t = 0; t <= 100_000; t += 10_000) slow.heartbeat(t);
    expect(slow.suspect(100_000 + 3000)).toBe(false);
    expect(slow.suspect(100_000 + 40_000)).toBe(true);
  });

  it("measures the sender's rhythm from the heartbeats' timestamps: a reader's delays do not slow detection", () => {
    // Sent every 1000 ms exactly; read 0 to 600 ms late (a busy consumer).
    const delays = [0, 600, 100, 500, 0, 600, 200, 400, 0, 600, 0];
    const sender = new PhiAccrualDetector(1000);
    const arrival = new PhiAccrualDetector(1000, { intervalsFrom: 'arrival' });
    delays.forEach((d, i) => {
      sender.heartbeat(i * 1000 + d, 1000, i * 1000);
      arrival.heartbeat(i * 1000 + d, 1000, i * 1000);
    });
    const lastArrival = 10_000;
    const firstSuspect = (det: PhiAccrualDetector): number => {
      let t = lastArrival;
      while (!det.suspect(t)) t += 10;
      return t - lastArrival;
    };
    // The sender's rhythm has no spread: the std floor (20% of the mean) holds, about 2.5 s of silence.
    expect(firstSuspect(sender)).toBeLessThan(2600);
    expect(firstSuspect(arrival)).toBeGreaterThan(firstSuspect(sender) + 500);
  });
});

describe('the rhythm of periodic heartbeats', () => {
  // A host starting 20 agents one after another announces each at once: 20 extra heartbeats 40 ms apart, then its 1 s rhythm.
  const startup = (view: FleetView): number => {
    let seq = 0;
    for (let t = 0; t <= 2000; t += 1000) view.onHeartbeat(hb('a', ++seq, t), t);
    for (let i = 1; i <= 20; i++) view.onHeartbeat(hb('a', ++seq, 2000 + i * 40, [], { periodic: false }), 2000 + i * 40);
    view.onHeartbeat(hb('a', ++seq, 3000), 3000);
    return 3000;
  };

  it('extra heartbeats (a host announcing the agents it starts) neither shrink the learned interval nor hold off detection', () => {
    const view = new FleetView();
    const last = startup(view);
    // An ordinary gap after the burst is no failure: a 1 s sender is still suspected about 2.5 s after its last periodic beat.
    expect(view.suspects(last + 1500)).toEqual([]);
    expect(view.suspects(last + 2400)).toEqual([]);
    expect(view.suspects(last + 2700).map((n) => n.last.nodeId)).toEqual(['a']);
    // An extra heartbeat after the last periodic one does not restart the silence.
    const v2 = new FleetView();
    const l2 = startup(v2);
    v2.onHeartbeat(hb('a', 100, l2 + 900, [], { periodic: false }), l2 + 900);
    expect(v2.suspects(l2 + 2700).map((n) => n.last.nodeId)).toEqual(['a']);
  });

  it("with beats 'all' (the detector before) the same burst has a live host suspected before 2 s of silence", () => {
    const view = new FleetView({ beats: 'all' });
    const last = startup(view);
    expect(view.suspects(last + 1800).map((n) => n.last.nodeId)).toEqual(['a']);
  });

  it('the wire keeps the mark: an extra heartbeat decodes as one, a periodic one (or one from a host that marks none) as periodic', async () => {
    const wire = new JsonRuntimeWire();
    expect((await wire.decodeHeartbeat(await wire.encodeHeartbeat(hb('a', 1, 1000, [], { periodic: false }))))?.periodic).toBe(false);
    expect((await wire.decodeHeartbeat(await wire.encodeHeartbeat(hb('a', 2, 2000))))?.periodic).toBe(true);
    const unmarked = JSON.parse((await wire.encodeHeartbeat(hb('a', 3, 3000))).toString()) as Record<string, unknown>;
    delete unmarked.metadata;
    expect((await wire.decodeHeartbeat(Buffer.from(JSON.stringify(unmarked))))?.periodic).toBe(true);
  });
});

describe('fleet view', () => {
  it("a pause of the detector's own process is not counted as a node's silence", () => {
    const v = new FleetView();
    for (let i = 1; i <= 5; i++) v.onHeartbeat(hb('a', i, i * 1000), i * 1000);
    // 3 s of the 3.2 s since the last heartbeat were this process's pause: 0.2 s of the node's silence.
    v.localPause(3000);
    expect(v.suspects(5000 + 3200)).toEqual([]);
    // A crash is still found, the pause later.
    expect(v.suspects(5000 + 3000 + 2700).map((n) => n.last.nodeId)).toEqual(['a']);
    // A node heard from after the pause: the earlier pause no longer counts for it.
    v.onHeartbeat(hb('b', 1, 8100), 8100);
    expect(v.judgedAt(v.nodes.get('b')!, 9000)).toBe(9000);
    expect(v.judgedAt(v.nodes.get('a')!, 9000)).toBe(6000);
  });

  it('a node declared dead comes back only with a newer heartbeat, and its later silence is detected again', () => {
    const v = new FleetView();
    for (let i = 1; i <= 5; i++) v.onHeartbeat(hb('a', i, i * 1000, [['x', 1]]), i * 1000);
    const [a] = v.suspects(9000);
    expect(a?.last.nodeId).toBe('a');
    a!.status = 'dead';
    // A redelivered old heartbeat is no sign of life.
    expect(v.onHeartbeat(hb('a', 5, 5000, [['x', 1]]), 9100)).toBe(false);
    expect(v.nodes.get('a')!.status).toBe('dead');
    expect(v.onHeartbeat(hb('a', 6, 9200, [['x', 1]]), 9200)).toBe(true);
    expect(v.nodes.get('a')!.status).toBe('alive');
    expect(v.suspects(9500)).toEqual([]);
    expect(v.suspects(20_000).map((n) => n.last.nodeId)).toEqual(['a']);
  });

  it('the highest epoch owns an agent: a resumed zombie listing it at the old epoch does not take it back', () => {
    const v = new FleetView();
    v.onHeartbeat(hb('a', 1, 1000, [['x', 1]]), 1000);
    v.onHeartbeat(hb('b', 1, 2000, [['x', 2]]), 2000);
    v.onHeartbeat(hb('a', 2, 3000, [['x', 1]]), 3000);
    expect(v.owners.get('x')).toMatchObject({ nodeId: 'b', epoch: 2 });
    expect(v.agentsOf('a')).toEqual([]);
  });

  it('targets: same region first, then least loaded, never the failed node', () => {
    const v = new FleetView();
    v.onHeartbeat(hb('a', 1, 1000, [], { region: 'eu' }), 1000);
    v.onHeartbeat(
      hb(
        'b',
        1,
        1000,
        [
          ['y', 1],
          ['z', 1],
        ],
        { region: 'eu' },
      ),
      1000,
    );
    v.onHeartbeat(hb('c', 1, 1000, [], { region: 'us' }), 1000);
    v.onHeartbeat(hb('d', 1, 1000, [['w', 1]], { region: 'eu' }), 1000);
    expect(v.chooseTarget('eu', new Set(['a']), 1200)).toBe('d');
    expect(v.chooseTarget('us', new Set(['c']), 1200)).toBe('a');
  });
});

describe('backoff', () => {
  it('exponential, linear and fixed, capped at the maximum', () => {
    const r = { ...DEFAULT_POLICY.strategy.autoRetry, baseDelayMs: 100, maxDelayMs: 1000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(r, n))).toEqual([100, 200, 400, 800, 1000]);
    expect([1, 2, 3].map((n) => backoffDelay({ ...r, backoffStrategy: 'linear' }, n))).toEqual([100, 200, 300]);
    expect([1, 2, 3].map((n) => backoffDelay({ ...r, backoffStrategy: 'fixed' }, n))).toEqual([100, 100, 100]);
  });
});
