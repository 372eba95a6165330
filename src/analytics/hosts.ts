import type { NodeHeartbeat } from '../runtime/types.js';
import type { AnomalyRecord } from './anomaly.js';

/**
 * The latest heartbeat of one runtime host, as analytics keeps it
 * (`analytics_hosts`, `_id` = nodeId): where it runs, its load and the
 * agents it hosts. Written when a newer heartbeat (higher timestamp, then
 * sequence) arrives, so a replay of the compacted heartbeats topic leaves the
 * same documents. No nested arrays (FerretDB refuses them).
 */
export interface HostRecord {
  _id: string;
  nodeId: string;
  host: string | null;
  region: string | null;
  /** Wall clock of the heartbeat (ms). */
  timestamp: number;
  sequence: number;
  intervalMs: number;
  status: 'running' | 'stopping';
  /** Agents hosted (the runtime's own figure). */
  load: number;
  heapUsedBytes: number | null;
  agents: string[];
}

export function hostRecord(h: NodeHeartbeat): HostRecord {
  return {
    _id: h.nodeId,
    nodeId: h.nodeId,
    host: h.host,
    region: h.region,
    timestamp: h.timestamp,
    sequence: h.sequence,
    intervalMs: h.intervalMs,
    status: h.status,
    load: h.load,
    heapUsedBytes: h.heapUsedBytes,
    agents: h.agents.map((a) => a.instanceId).sort(),
  };
}

/** Whether `b` is a later heartbeat of the same host than `a`. */
export function newer(b: HostRecord, a: HostRecord | undefined): boolean {
  return a === undefined || b.timestamp > a.timestamp || (b.timestamp === a.timestamp && b.sequence > a.sequence);
}

/** Heartbeats a host may miss before it counts as silent (the recovery service's detector decides failures; this is a view). @default 3 */
export const MISSED_BEATS = 3;

export type HostState = 'alive' | 'silent' | 'stopped';

/** A host as of `now`: alive while its heartbeats keep coming, stopped when it said so, silent otherwise. */
export function hostState(h: HostRecord, now: number): { state: HostState; silentMs: number } {
  const silentMs = Math.max(0, now - h.timestamp);
  if (h.status === 'stopping') return { state: 'stopped', silentMs };
  return { state: silentMs <= MISSED_BEATS * h.intervalMs ? 'alive' : 'silent', silentMs };
}

/** The host whose latest heartbeat lists the agent (the newest one if two claim it mid-migration). */
export function hostOf(hosts: readonly HostRecord[], instanceId: string): HostRecord | undefined {
  let found: HostRecord | undefined;
  for (const h of hosts) if (h.agents.includes(instanceId) && (found === undefined || h.timestamp > found.timestamp)) found = h;
  return found;
}

/**
 * What the agent's host says about an anomaly, in words: a stalled or stuck
 * agent whose host is alive is hung itself (restart the agent); one whose host
 * is silent is a host failure (the recovery service moves it).
 */
export function hostVerdict(a: Pick<AnomalyRecord, 'instanceId' | 'type'>, hosts: readonly HostRecord[], now: number): string {
  const h = hostOf(hosts, a.instanceId);
  if (!h) return hosts.length === 0 ? '-' : 'no host';
  const { state, silentMs } = hostState(h, now);
  const where = state === 'alive' ? `${h.nodeId} alive` : `${h.nodeId} ${state} ${Math.round(silentMs / 1000)}s`;
  if (a.type !== 'velocity_stall' && a.type !== 'stuck_task') return where;
  return state === 'alive' ? `${where}: the agent itself is stuck` : `${where}: host down`;
}
