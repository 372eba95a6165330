import type { EventCodec } from '../../src/codec/event-codec.js';
import { canonicalJson, decide, type JsonValue } from '../../src/domain/index.js';
import type { EventLog } from '../../src/log/port.js';

/** The window fields a brute-force recomputation checks. */
export interface BruteWindow {
  id: string;
  events: number;
  eventTypes: Record<string, number>;
  firstVersion: number;
  lastVersion: number;
  sizeStart: number;
  sizeEnd: number;
  sizeMax: number;
  changesetBytes: number;
  logBytes: number;
  tasksAssigned: number;
  tasksCompleted: number;
  tasksFailed: number;
  errors: number;
  executionMsTotal: number;
  executionCount: number;
  statusChanges: number;
  writesRejected: number;
}

export const BRUTE_FIELDS = [
  'events',
  'eventTypes',
  'firstVersion',
  'lastVersion',
  'sizeStart',
  'sizeEnd',
  'sizeMax',
  'changesetBytes',
  'logBytes',
  'tasksAssigned',
  'tasksCompleted',
  'tasksFailed',
  'errors',
  'executionMsTotal',
  'executionCount',
  'statusChanges',
  'writesRejected',
] as const;

const bytes = (v: JsonValue | undefined): number => (v === undefined ? 0 : Buffer.byteLength(canonicalJson(v)));

/**
 * Recomputes every window from the whole log the slow, obvious way: each
 * record fully decoded by the event codec (changeset values parsed), every
 * agent's events in a list, each window summed on its own. Shares nothing
 * with src/analytics but the definitions in docs/analytics.md.
 */
export async function bruteForceWindows(log: EventLog, topic: string, codec: EventCodec, windows: Record<string, number>): Promise<Map<string, BruteWindow>> {
  const [start, end] = await Promise.all([log.startOffsets(topic), log.endOffsets(topic)]);
  const out = new Map<string, BruteWindow>();
  for (const [p, until] of Object.entries(end)) {
    const heads = new Map<string, { version: number; epoch: number; size: number; clock: number; taskAt: number | null }>();
    for (const r of await log.read(topic, Number(p), start[Number(p)] ?? '0', until)) {
      if (r.value === null) continue;
      let e;
      try {
        e = await codec.decode(r.value);
      } catch {
        continue; // undecodable: skipped
      }
      if (e.instanceId !== r.key) continue;
      const h = heads.get(r.key);
      const d = decide(h ? { version: h.version, epoch: h.epoch } : undefined, e);
      if (!d.accept && d.reason === 'unknown_type') continue;
      const a = h ?? { version: 0, epoch: 0, size: 0, clock: e.timestamp, taskAt: null };
      a.clock = Math.max(a.clock, e.timestamp);
      const at = a.clock;
      const touched: BruteWindow[] = [];
      for (const [label, ms] of Object.entries(windows)) {
        const ws = Math.floor(at / ms) * ms;
        const id = `${e.instanceId}|${label}|${ws}`;
        let w = out.get(id);
        if (!w) {
          w = {
            id,
            events: 0,
            eventTypes: {},
            firstVersion: 0,
            lastVersion: 0,
            sizeStart: a.size,
            sizeEnd: a.size,
            sizeMax: a.size,
            changesetBytes: 0,
            logBytes: 0,
            tasksAssigned: 0,
            tasksCompleted: 0,
            tasksFailed: 0,
            errors: 0,
            executionMsTotal: 0,
            executionCount: 0,
            statusChanges: 0,
            writesRejected: 0,
          };
          out.set(id, w);
        }
        touched.push(w);
      }
      heads.set(r.key, a);
      // The record as it sits on the log: key, headers, value.
      const onLog = Buffer.from(r.key).length + r.value.length + Object.entries(r.headers).reduce((t, [k, v]) => t + Buffer.from(k).length + Buffer.from(v).length, 0);
      for (const w of touched) w.logBytes += onLog;
      if (!d.accept) {
        for (const w of touched) w.writesRejected++;
        continue;
      }
      a.version = e.version;
      a.epoch = e.writerEpoch;
      let delta = 0;
      let cs = 0;
      let statusChanged = false;
      for (const c of e.changeset) {
        const o = bytes(c.oldValue);
        const n = bytes(c.newValue);
        cs += Buffer.byteLength(c.path) + o + n;
        const key = c.path.slice(c.path.lastIndexOf('/') + 1);
        const member = /^\d+$/.test(key) ? 1 : Buffer.byteLength(key) + 4;
        delta += c.op === 'update' ? n - o : c.op === 'create' ? n + member : -(o + member);
        if (c.path === '/status' && c.newValue !== undefined) statusChanged = true;
      }
      a.size += delta;
      for (const w of touched) {
        w.events++;
        w.eventTypes[e.eventType] = (w.eventTypes[e.eventType] ?? 0) + 1;
        if (w.firstVersion === 0) w.firstVersion = e.version;
        w.lastVersion = e.version;
        w.sizeEnd = a.size;
        w.sizeMax = Math.max(w.sizeMax, a.size);
        w.changesetBytes += cs;
        if (statusChanged) w.statusChanges++;
        if (e.eventType === 'task_assigned') w.tasksAssigned++;
        if (e.eventType === 'task_completed') {
          w.tasksCompleted++;
          if (a.taskAt !== null) ((w.executionMsTotal += at - a.taskAt), w.executionCount++);
        }
        if (e.eventType === 'task_failed' || e.eventType === 'error_occurred') {
          w.errors++;
          if (a.taskAt !== null) w.tasksFailed++;
        }
      }
      if (e.eventType === 'task_assigned') a.taskAt = at;
      else if (e.eventType === 'task_completed' || e.eventType === 'task_failed' || e.eventType === 'error_occurred') a.taskAt = null;
    }
  }
  return out;
}
