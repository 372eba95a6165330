import { raise, resolve, type AnomalyChange, type AnomalyRecord, type AnomalyType } from './anomaly.js';
import type { EventFact } from './fact.js';
import type { DetectorThresholds } from './options.js';
import { median, robustZ, sum } from './robust.js';

/**
 * Per-agent detector memory: small, bounded and JSON-serialisable, because it
 * is checkpointed with the agent after every batch (a restart resumes the
 * detectors exactly where the log left them). docs/analytics.md gives each
 * rule in words.
 */
export interface DetectorState {
  /** Loop: the last changeset key, how many times in a row, and the version the run began at. */
  lastKey: string | null;
  keyRun: number;
  keyRunFrom: number;
  /** Loop: the last 8 state checksums, and per period 1..4 how many events in a row repeated the one `p` back. */
  sums: string[];
  cycleRun: number[];
  /** Growth: the last `growthWindowEvents` size deltas, and up to 64 older ones (the baseline). */
  recent: number[];
  base: number[];
  growthFrom: number;
  /** Timestamps (log time) of recent events, errors, status_changed (with their status), ownership fights. */
  eventTs: number[];
  errorTs: number[];
  /** Objects, not [at, status] pairs: FerretDB refuses nested arrays in a document. */
  flaps: Flap[];
  fenceTs: number[];
  /** Velocity: up to 64 baseline gaps between events, and the last 8. */
  gaps: number[];
  lastGaps: number[];
  /** Median of `gaps`, recomputed every 8 new gaps (a median per event was the fold's hottest spot). */
  gapMedian: number;
  gapPushes: number;
  lastAt: number | null;
  lastVersion: number;
  status: string | null;
  /** The open task: when and at which version it was assigned. */
  taskAt: number | null;
  taskVersion: number;
  /** Open anomalies by type. */
  active: Partial<Record<AnomalyType, AnomalyRecord>>;
}

export interface Flap {
  at: number;
  status: string;
}

export function emptyDetectorState(): DetectorState {
  return {
    lastKey: null,
    keyRun: 0,
    keyRunFrom: 0,
    sums: [],
    cycleRun: [0, 0, 0, 0],
    recent: [],
    base: [],
    growthFrom: 0,
    eventTs: [],
    errorTs: [],
    flaps: [],
    fenceTs: [],
    gaps: [],
    lastGaps: [],
    gapMedian: 0,
    gapPushes: 0,
    lastAt: null,
    lastVersion: 0,
    status: null,
    taskAt: null,
    taskVersion: 0,
    active: {},
  };
}

export interface AgentContext {
  instanceId: string;
  agentType: string | null;
  /** Estimated state size after the event. */
  size: number;
}

const QUIET_STATUSES = new Set(['stopped', 'terminated', 'completed', 'paused', 'suspended', 'archived']);
const BASE_MAX = 64;

/** Feeds one accepted event to every detector. `at` is the agent's log time (monotonic per agent). */
export function onEvent(s: DetectorState, f: EventFact, at: number, t: DetectorThresholds, ctx: AgentContext, out: AnomalyChange[]): void {
  const c = { instanceId: ctx.instanceId, agentType: ctx.agentType, at, version: f.version };

  // Velocity first: the gap this event closes (a stall ends here).
  if (s.lastAt !== null) {
    const gap = at - s.lastAt;
    const stallAt = stallThreshold(s, t);
    if (stallAt === undefined || gap <= stallAt) {
      s.lastGaps.push(gap);
      const older = s.lastGaps.length > 8 ? s.lastGaps.shift()! : undefined;
      // The baseline is frozen during a spike, so a spike does not become normal.
      if (older !== undefined && !s.active.velocity_spike) {
        s.gaps.push(older);
        if (s.gaps.length > BASE_MAX) s.gaps.shift();
        if (++s.gapPushes >= 8 || s.gaps.length <= t.baselineMinSamples) {
          s.gapPushes = 0;
          s.gapMedian = median(s.gaps);
        }
      }
    }
  }
  s.lastAt = at;
  s.lastVersion = f.version;
  resolve(s.active, 'velocity_stall', at, out);
  if (s.gaps.length >= t.baselineMinSamples && s.lastGaps.length === 8 && !s.active.velocity_spike) {
    const base = s.gapMedian;
    const now = median(s.lastGaps);
    if (now * t.spikeRatio < base) {
      raise(
        s.active,
        c,
        'velocity_spike',
        {
          severity: 'warning',
          description: `events arrive every ${now.toFixed(0)} ms, ${(base / Math.max(now, 1)).toFixed(1)}x faster than this agent's median of ${base.toFixed(0)} ms`,
          observed: now,
          expected: base,
          score: robustZ(now, s.gaps),
          fromVersion: f.version - 8,
          evidence: { medianGapMs: now.toFixed(0), baselineGapMs: base.toFixed(0) },
        },
        out,
      );
    }
  } else if (s.active.velocity_spike) {
    const base = s.gapMedian;
    const now = median(s.lastGaps);
    if (now * (t.spikeRatio / 2) >= base) resolve(s.active, 'velocity_spike', at, out);
    else raise(s.active, c, 'velocity_spike', { severity: 'warning', description: '', fromVersion: f.version, evidence: { medianGapMs: now.toFixed(0) } }, out);
  }

  // Loop, by changeset: the same step (array indexes blanked) again and again.
  if (f.changeKey !== undefined && f.changeKey === s.lastKey) s.keyRun++;
  else {
    s.lastKey = f.changeKey ?? null;
    s.keyRun = f.changeKey === undefined ? 0 : 1;
    s.keyRunFrom = f.version;
  }
  // Loop, by state: the checksum `p` events back recurs, event after event.
  for (let p = 1; p <= 4; p++) s.cycleRun[p - 1] = s.sums.length >= p && s.sums[s.sums.length - p] === f.checksum ? s.cycleRun[p - 1]! + 1 : 0;
  s.sums.push(f.checksum);
  if (s.sums.length > 8) s.sums.shift();
  const period = s.cycleRun.findIndex((run, i) => run >= (i + 1) * t.loopCycles) + 1;
  if (s.keyRun >= t.loopRepeats || period > 0) {
    const byKey = s.keyRun >= t.loopRepeats;
    raise(
      s.active,
      c,
      'loop',
      {
        severity: 'critical',
        description: byKey ? `the same changeset ${s.keyRun} times in a row` : `the state cycles with period ${period} (checksum ${f.checksum.slice(0, 12)} recurs)`,
        observed: byKey ? s.keyRun : period,
        fromVersion: byKey ? s.keyRunFrom : f.version - period * t.loopCycles,
        evidence: byKey ? { repeats: String(s.keyRun), sinceVersion: String(s.keyRunFrom) } : { period: String(period), checksum: f.checksum },
      },
      out,
    );
  } else resolve(s.active, 'loop', at, out);

  // Runaway growth: recent mean growth per event against the agent's own baseline.
  if (!f.sealed) {
    s.recent.push(f.sizeDelta);
    if (s.recent.length > t.growthWindowEvents) {
      const old = s.recent.shift()!;
      // The baseline is frozen while growth is flagged, so a leak does not become normal.
      if (!s.active.runaway_growth) {
        s.base.push(old);
        if (s.base.length > BASE_MAX) s.base.shift();
      }
    }
    const net = sum(s.recent);
    const full = s.recent.length >= t.growthWindowEvents;
    const grew = full && net >= t.growthMinBytes;
    // The z-score only when the growth is large enough to matter: it sorts the baseline twice.
    const z = !grew ? 0 : s.base.length >= t.baselineMinSamples ? robustZ(net / s.recent.length, s.base) : Infinity;
    const overCap = ctx.size > t.sizeHardCapBytes;
    if ((grew && z >= t.growthZ) || overCap) {
      if (!s.active.runaway_growth) s.growthFrom = f.version - s.recent.length + 1;
      raise(
        s.active,
        c,
        'runaway_growth',
        {
          severity: overCap ? 'critical' : 'warning',
          description: overCap ? `state is ~${ctx.size} bytes, above the cap of ${t.sizeHardCapBytes}` : `state grew ${net} bytes over the last ${s.recent.length} events (robust z ${fmt(z)})`,
          observed: net,
          expected: s.base.length > 0 ? median(s.base) * s.recent.length : 0,
          score: Number.isFinite(z) ? z : 0,
          fromVersion: s.growthFrom,
          evidence: { netBytes: String(net), stateBytes: String(ctx.size), events: String(s.recent.length) },
        },
        out,
      );
    } else if (net < t.growthMinBytes / 2 && !overCap) resolve(s.active, 'runaway_growth', at, out);
  }

  // Time-window counters.
  s.eventTs.push(at);
  if (f.eventType === 'error_occurred' || f.eventType === 'task_failed') s.errorTs.push(at);
  if (f.eventType === 'ownership_acquired') s.fenceTs.push(at);
  if (f.eventType === 'status_changed' && f.status !== undefined) s.flaps.push({ at, status: f.status });
  if (f.status !== undefined) s.status = f.status;

  // Tasks: assigned opens one, completed or failed (or an error) closes it.
  if (f.eventType === 'task_assigned') {
    s.taskAt = at;
    s.taskVersion = f.version;
  } else if (f.eventType === 'task_completed' || f.eventType === 'task_failed' || f.eventType === 'error_occurred') {
    s.taskAt = null;
    resolve(s.active, 'stuck_task', at, out);
  }
  judgeWindows(s, at, f.version, t, ctx, out);
}

/** Feeds a write the log refused (fenced, gap, duplicate) to the fencing-storm detector. */
export function onRejected(s: DetectorState, reason: string, at: number, t: DetectorThresholds, ctx: AgentContext, out: AnomalyChange[]): void {
  if (reason === 'stale_epoch' || reason === 'epoch_not_acquired') s.fenceTs.push(at);
  judgeWindows(s, at, s.lastVersion, t, ctx, out);
}

/**
 * What the passing of log time alone decides (the partition's watermark
 * moves on while this agent is silent): stalls, stuck tasks, and windows
 * that emptied (bursts that ended).
 */
export function onTick(s: DetectorState, watermark: number, t: DetectorThresholds, ctx: AgentContext, out: AnomalyChange[]): void {
  const c = { instanceId: ctx.instanceId, agentType: ctx.agentType, at: watermark, version: s.lastVersion };
  const stallAt = stallThreshold(s, t);
  if (s.lastAt !== null && stallAt !== undefined && !QUIET_STATUSES.has(s.status ?? '') && watermark - s.lastAt > stallAt) {
    const silent = watermark - s.lastAt;
    raise(
      s.active,
      c,
      'velocity_stall',
      {
        severity: silent > stallAt * 5 ? 'critical' : 'warning',
        description: `no event for ${silent} ms; this agent's median gap is ${s.gapMedian.toFixed(0)} ms`,
        observed: silent,
        expected: s.gapMedian,
        fromVersion: s.lastVersion,
        evidence: { silentMs: String(silent), lastVersion: String(s.lastVersion) },
      },
      out,
    );
  }
  // A stuck task is reported only when nothing else explains it: a looping,
  // leaking or fenced agent's task is stuck too, and the cause is the anomaly.
  const explained = Object.keys(s.active).some((k) => k !== 'stuck_task' && k !== 'velocity_spike');
  if (s.taskAt !== null && !explained && watermark - s.taskAt > t.stuckTaskMs && s.lastAt !== null && watermark - s.lastAt <= (stallAt ?? t.stuckTaskMs)) {
    raise(
      s.active,
      c,
      'stuck_task',
      {
        severity: 'warning',
        description: `task assigned at version ${s.taskVersion} still open after ${watermark - s.taskAt} ms`,
        observed: watermark - s.taskAt,
        expected: t.stuckTaskMs,
        fromVersion: s.taskVersion,
        evidence: { assignedVersion: String(s.taskVersion), openMs: String(watermark - s.taskAt) },
      },
      out,
    );
  }
  if (s.active.error_burst || s.active.status_flapping || s.active.fencing_storm || s.eventTs.length > 0) judgeWindows(s, watermark, s.lastVersion, t, ctx, out, false);
}

function judgeWindows(s: DetectorState, at: number, version: number, t: DetectorThresholds, ctx: AgentContext, out: AnomalyChange[], canRaise = true): void {
  const c = { instanceId: ctx.instanceId, agentType: ctx.agentType, at, version };
  prune(s.eventTs, at - t.errorBurstWindowMs);
  prune(s.errorTs, at - t.errorBurstWindowMs);
  prune(s.fenceTs, at - t.fencingWindowMs);
  while (s.flaps.length > 0 && s.flaps[0]!.at < at - t.flapWindowMs) s.flaps.shift();

  const errors = s.errorTs.length;
  const share = s.eventTs.length === 0 ? 0 : errors / s.eventTs.length;
  if (canRaise && errors >= t.errorBurstCount && share >= t.errorBurstShare) {
    raise(
      s.active,
      c,
      'error_burst',
      {
        severity: share >= 0.8 ? 'critical' : 'warning',
        description: `${errors} errors in ${t.errorBurstWindowMs} ms (${(share * 100).toFixed(0)}% of its events)`,
        observed: errors,
        expected: t.errorBurstCount,
        score: share,
        fromVersion: version,
        evidence: { errors: String(errors), share: share.toFixed(2) },
      },
      out,
    );
  } else if (errors < t.errorBurstCount / 2 || share < t.errorBurstShare / 2) resolve(s.active, 'error_burst', at, out);

  const alternations = alternating(s.flaps);
  if (canRaise && alternations >= t.flapCount) {
    const [a, b] = [s.flaps.at(-1)!.status, s.flaps.at(-2)!.status];
    raise(
      s.active,
      c,
      'status_flapping',
      {
        severity: 'warning',
        description: `status flipped ${alternations} times between ${a} and ${b} in ${t.flapWindowMs} ms`,
        observed: alternations,
        expected: t.flapCount,
        fromVersion: version,
        evidence: { flips: String(alternations), statuses: `${a},${b}` },
      },
      out,
    );
  } else if (alternations < t.flapCount / 2) resolve(s.active, 'status_flapping', at, out);

  if (canRaise && s.fenceTs.length >= t.fencingCount) {
    raise(
      s.active,
      c,
      'fencing_storm',
      {
        severity: 'critical',
        description: `${s.fenceTs.length} ownership changes and fenced writes in ${t.fencingWindowMs} ms: two runtimes fight over this agent`,
        observed: s.fenceTs.length,
        expected: t.fencingCount,
        fromVersion: version,
        evidence: { fencingEvents: String(s.fenceTs.length) },
      },
      out,
    );
  } else if (s.fenceTs.length < t.fencingCount / 2) resolve(s.active, 'fencing_storm', at, out);
}

/** How many of the latest status changes, newest back, alternate between two statuses (A,B,A,B → 4). */
function alternating(flaps: Flap[]): number {
  const n = flaps.length;
  if (n < 2) return n;
  const a = flaps[n - 1]!.status;
  const b = flaps[n - 2]!.status;
  if (a === b) return 1;
  let k = 2;
  while (k < n && flaps[n - 1 - k]!.status === (k % 2 === 0 ? a : b)) k++;
  return k;
}

function stallThreshold(s: DetectorState, t: DetectorThresholds): number | undefined {
  if (s.gaps.length < t.baselineMinSamples) return undefined;
  return Math.max(t.stallMinMs, t.stallFactor * s.gapMedian);
}

function prune(ts: number[], before: number): void {
  let i = 0;
  while (i < ts.length && ts[i]! < before) i++;
  if (i > 0) ts.splice(0, i);
}

function fmt(z: number): string {
  return Number.isFinite(z) ? z.toFixed(1) : 'n/a (no baseline yet)';
}
