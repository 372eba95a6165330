import type { NodeHeartbeat } from '../runtime/types.js';
import type { AgentAccess } from '../telemetry/access.js';

/**
 * One agent's access figures in one tumbling window (docs/analytics.md,
 * Access figures): the runtime hosts' heartbeats summed by the heartbeat's
 * timestamp. Kept in `state_metrics` beside the event windows, under the
 * label `access:<label>` (`_id` `<instanceId>|access:<label>|<windowStart>`),
 * so the event fold and the heartbeat fold never write the same document.
 */
export interface AccessWindow {
  _id: string;
  instanceId: string;
  /** `access:<label>`, e.g. `access:1h`. */
  window: string;
  windowStart: number;
  windowEnd: number;
  reads: number;
  readMsTotal: number;
  cacheHits: number;
  cacheMisses: number;
  writes: number;
  writeMsTotal: number;
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
  return {
    _id: accessWindowId(instanceId, label, windowStart),
    instanceId,
    window: accessLabel(label),
    windowStart,
    windowEnd: windowStart + ms,
    reads: 0,
    readMsTotal: 0,
    cacheHits: 0,
    cacheMisses: 0,
    writes: 0,
    writeMsTotal: 0,
    hosts: [],
  };
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
  w.reads += a.reads;
  w.readMsTotal += a.readMsTotal;
  w.cacheHits += a.cacheHits;
  w.cacheMisses += a.cacheMisses;
  w.writes += a.writes;
  w.writeMsTotal += a.writeMsTotal;
  return true;
}

/** The seed's read-side figures over access windows: null where nothing was measured. */
export function accessFigures(ws: readonly Pick<AccessWindow, 'reads' | 'readMsTotal' | 'cacheHits' | 'cacheMisses' | 'writes' | 'writeMsTotal'>[]): {
  averageReadTime: number | null;
  averageWriteTime: number | null;
  cacheHitRate: number | null;
  reads: number;
  cacheHits: number;
  cacheMisses: number;
  writes: number;
} {
  const t = { reads: 0, readMs: 0, hits: 0, misses: 0, writes: 0, writeMs: 0 };
  for (const w of ws) {
    t.reads += w.reads;
    t.readMs += w.readMsTotal;
    t.hits += w.cacheHits;
    t.misses += w.cacheMisses;
    t.writes += w.writes;
    t.writeMs += w.writeMsTotal;
  }
  return {
    averageReadTime: t.reads === 0 ? null : t.readMs / t.reads,
    averageWriteTime: t.writes === 0 ? null : t.writeMs / t.writes,
    cacheHitRate: t.hits + t.misses === 0 ? null : t.hits / (t.hits + t.misses),
    reads: t.reads,
    cacheHits: t.hits,
    cacheMisses: t.misses,
    writes: t.writes,
  };
}
