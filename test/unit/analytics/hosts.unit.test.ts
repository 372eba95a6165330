import { describe, expect, it } from 'vitest';
import { hostOf, hostRecord, hostState, hostVerdict, type HostRecord } from '../../../src/analytics/hosts.js';
import type { NodeHeartbeat } from '../../../src/runtime/types.js';

const T = 1_767_225_600_000;

function beat(nodeId: string, timestamp: number, agents: string[], status: 'running' | 'stopping' = 'running'): HostRecord {
  const h: NodeHeartbeat = {
    nodeId,
    host: 'box',
    dataCenter: null,
    region: 'eu',
    timestamp,
    sequence: 7,
    status,
    intervalMs: 1000,
    load: agents.length,
    heapUsedBytes: null,
    agents: agents.map((instanceId) => ({ instanceId, version: 3, writerEpoch: 1, state: 'running' })),
  };
  return hostRecord(h);
}

describe('runtime hosts in analytics', () => {
  it('a host is alive within three missed heartbeats, silent after, stopped when it said so', () => {
    expect(hostState(beat('n1', T, []), T + 3000)).toEqual({ state: 'alive', silentMs: 3000 });
    expect(hostState(beat('n1', T, []), T + 3001)).toEqual({ state: 'silent', silentMs: 3001 });
    expect(hostState(beat('n1', T, [], 'stopping'), T + 10)).toEqual({ state: 'stopped', silentMs: 10 });
  });

  it('tells a stalled agent on a live host (hung itself) from one on a dead host', () => {
    const hosts = [beat('live', T + 9000, ['a-hung']), beat('dead', T, ['a-orphan'])];
    expect(hostVerdict({ instanceId: 'a-hung', type: 'velocity_stall' }, hosts, T + 10_000)).toBe('live alive: the agent itself is stuck');
    expect(hostVerdict({ instanceId: 'a-orphan', type: 'velocity_stall' }, hosts, T + 10_000)).toBe('dead silent 10s: host down');
    expect(hostVerdict({ instanceId: 'a-orphan', type: 'stuck_task' }, hosts, T + 10_000)).toBe('dead silent 10s: host down');
    expect(hostVerdict({ instanceId: 'a-hung', type: 'loop' }, hosts, T + 10_000)).toBe('live alive');
    expect(hostVerdict({ instanceId: 'a-elsewhere', type: 'velocity_stall' }, hosts, T + 10_000)).toBe('no host');
    expect(hostVerdict({ instanceId: 'a-hung', type: 'velocity_stall' }, [], T)).toBe('-');
  });

  it('an agent listed by two hosts mid-migration belongs to the newer heartbeat', () => {
    expect(hostOf([beat('old', T, ['a']), beat('new', T + 500, ['a'])], 'a')?.nodeId).toBe('new');
  });
});
