import { describe, expect, it } from 'vitest';
import { PhiAccrualDetector } from '../../../src/recovery/phi.js';
import { backoffDelay, DEFAULT_POLICY } from '../../../src/recovery/policy.js';
import { FleetView } from '../../../src/recovery/view.js';
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

describe('fleet view', () => {
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
