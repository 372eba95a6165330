import type { NodeHeartbeat } from '../runtime/types.js';
import { addAccessCounts, noAccess, type AgentAccess } from '../telemetry/access.js';

/**
 * One agent's access figures in one tumbling window (docs/analytics.md,
 * Access figures): the runtime hosts' heartbeats summed by the heartbeat's
 * timestamp. Kept in `state_metrics` beside the event windows, under the
 * label `access:<label>` (`_id` `<instanceId>|access:<label>|<windowStart>`),
 * so the event fold and the heartbeat fold never write the same document.
 */
export interface AccessWindow extends AgentAccess {
  _id: string;
  /** `access:<label>`, e.g. `access:1h`. */
  window: string;
  windowStart: number;
  windowEnd: number;
  /** Per host, the latest heartbeat folded in: an earlier or equal one (a redelivery) is not counted again. */
  hosts: Array<{ nodeId: string; timestamp: number; sequence: number }>;
}

/** The `state_metrics` label access windows of `label` are kept under. */
export function accessLabel(label: string): string {
  return `access:${label}`;
}

export function accessWindowId(instanceId: string, label: string, start: number): string {
  return `${instanceId}|${accessLabel(label)}|${start}`;
}

/** The window of `label` (length `ms`) that holds `at`, empty. */
export function emptyAccessWindow(instanceId: string, label: string, ms: number, at: number): AccessWindow {
  const windowStart = Math.floor(at / ms) * ms;
  return { _id: accessWindowId(instanceId, label, windowStart), ...noAccess(instanceId), window: accessLabel(label), windowStart, windowEnd: windowStart + ms, hosts: [] };
}

/**
 * Adds one agent's figures of one heartbeat to the window, unless the window
 * already holds this heartbeat or a later one of the same host. Returns
 * whether it counted.
 */
export function addAccess(w: AccessWindow, h: Pick<NodeHeartbeat, 'nodeId' | 'timestamp' | 'sequence'>, a: AgentAccess): boolean {
  const seen = w.hosts.find((x) => x.nodeId === h.nodeId);
  if (seen && (h.timestamp < seen.timestamp || (h.timestamp === seen.timestamp && h.sequence <= seen.sequence))) return false;
  if (seen) {
    seen.timestamp = h.timestamp;
    seen.sequence = h.sequence;
  } else w.hosts.push({ nodeId: h.nodeId, timestamp: h.timestamp, sequence: h.sequence });
  addAccessCounts(w, a);
  return true;
}

/** The seed's read-side figures over access windows: null where nothing was measured. */
export function accessFigures(ws: readonly Omit<AgentAccess, 'instanceId'>[]): {
  averageReadTime: number | null;
  averageWriteTime: number | null;
  cacheHitRate: number | null;
  reads: number;
  cacheHits: number;
  cacheMisses: number;
  writes: number;
} {
  const t = noAccess('');
  for (const w of ws) addAccessCounts(t, w);
  return {
    averageReadTime: t.reads === 0 ? null : t.readMsTotal / t.reads,
    averageWriteTime: t.writes === 0 ? null : t.writeMsTotal / t.writes,
    cacheHitRate: t.cacheHits + t.cacheMisses === 0 ? null : t.cacheHits / (t.cacheHits + t.cacheMisses),
    reads: t.reads,
    cacheHits: t.cacheHits,
    cacheMisses: t.cacheMisses,
    writes: t.writes,
  };
}
