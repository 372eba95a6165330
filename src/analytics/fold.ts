import { decide } from '../domain/index.js';
import type { AnomalyChange } from './anomaly.js';
import { emptyDetectorState, onEvent, onRejected, onTick, type DetectorState } from './detectors.js';
import type { FactReading } from './fact.js';
import { thresholdsFor, type AnalyticsSettings } from './options.js';
import { emptyWindow, type WindowAggregate } from './window.js';

/**
 * One agent's analytics memory, checkpointed after each batch
 * (`analytics_agents`, `_id` = instanceId). `lastOffset` is the last record
 * of the agent folded in: a redelivered record at or below it is skipped, so
 * a kill -9 between the store write and the offset commit double-counts
 * nothing (DESIGN.md Invariant 4).
 */
export interface AgentCheckpoint {
  _id: string;
  instanceId: string;
  partition: number;
  lastOffset: string;
  /** The log's head for the agent, as the projector decides it (version and epoch only: `decide`). */
  head: { version: number; epoch: number } | null;
  agentType: string | null;
  /** Estimated canonical JSON size of the state now. */
  size: number;
  /** The agent's log clock: the latest event timestamp seen (an earlier timestamp counts at this time). */
  clock: number | null;
  /** The open window per label. */
  windows: Record<string, WindowAggregate>;
  det: DetectorState;
}

/** The partition's own progress: its log-time watermark and the last tick the time-only detectors ran at. */
export interface PartitionCheckpoint {
  _id: string;
  partition: number;
  nextOffset: string;
  watermark: number;
  tick: number;
}

/** Why records were not folded in, and how many (docs/analytics.md, Bad input). */
export type SkipCounts = Record<string, number>;

/** What one batch changed: to be written (idempotently) before the offset commit. */
export interface FoldOutput {
  windows: WindowAggregate[];
  agents: AgentCheckpoint[];
  anomalies: AnomalyChange[];
  partition: PartitionCheckpoint;
  applied: number;
  rejected: number;
  skipped: SkipCounts;
  /** Per skip reason, the first detail seen in the batch (for the log line). */
  skipDetails: Record<string, string>;
}

/** Compares two offsets (decimal strings without leading zeros, or -1) without BigInt: by length, then by digits. */
export function compareOffsets(a: string, b: string): number {
  const an = a.startsWith('-');
  if (an !== b.startsWith('-')) return an ? -1 : 1;
  if (an) return Number(a) - Number(b);
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The log time between runs of the time-only detectors (stalls, stuck tasks, ended bursts). */
export const TICK_MS = 1000;

/**
 * The analytics fold of one partition: facts in offset order → windows,
 * detector state, anomalies. Pure (no I/O) and deterministic in the log:
 * every time is an event timestamp, so a replay of the same records gives
 * the same windows and the same anomalies, whatever the batch boundaries.
 */
export class PartitionFold {
  readonly agents = new Map<string, AgentCheckpoint>();
  private p: PartitionCheckpoint;
  private dirtyWindows = new Map<string, WindowAggregate>();
  private dirtyAgents = new Set<AgentCheckpoint>();
  private changes: AnomalyChange[] = [];
  /** The window labels and lengths, listed once (the fold visits them per event). */
  private readonly windowList: ReadonlyArray<[string, number]>;
  private counts = { applied: 0, rejected: 0, skipped: {} as SkipCounts, details: {} as Record<string, string> };

  constructor(
    readonly partition: number,
    private readonly settings: AnalyticsSettings,
    restored?: { partition: PartitionCheckpoint | undefined; agents: AgentCheckpoint[] },
  ) {
    this.windowList = Object.entries(settings.windows);
    this.p = restored?.partition ?? { _id: `p${partition}`, partition, nextOffset: '0', watermark: 0, tick: 0 };
    for (const a of restored?.agents ?? []) this.agents.set(a.instanceId, a);
  }

  get nextOffset(): string {
    return this.p.nextOffset;
  }

  /** Folds one record's reading. `key` and `offset` are the record's. */
  add(key: string, offset: string, reading: FactReading): void {
    if (compareOffsets(offset, this.p.nextOffset) >= 0) this.p.nextOffset = offset.length < 16 ? String(Number(offset) + 1) : (BigInt(offset) + 1n).toString();
    if (reading.kind === 'skip') return this.skip(reading.reason, reading.detail);
    const f = reading.fact;
    let a = this.agents.get(key);
    if (a && compareOffsets(offset, a.lastOffset) <= 0) return this.skip('redelivered', `offset ${offset}`);
    if (!a) {
      a = { _id: key, instanceId: key, partition: this.partition, lastOffset: '-1', head: null, agentType: null, size: 0, clock: null, windows: {}, det: emptyDetectorState() };
      this.agents.set(key, a);
    }
    a.lastOffset = offset;
    this.dirtyAgents.add(a);
    const at = Math.max(f.timestamp, a.clock ?? f.timestamp);
    a.clock = at;
    // A record every reader rejects before the order rules (readEventRecord: its claim-checked changeset is gone or altered).
    const decision: { accept: true } | { accept: false; reason: string } = f.rejectedAs
      ? { accept: false, reason: f.rejectedAs }
      : decide(a.head ?? undefined, { version: f.version, writerEpoch: f.epoch, eventType: f.eventType } as Parameters<typeof decide>[1]);
    if (!decision.accept && decision.reason === 'unknown_type') return this.skip('unknown_type', f.eventType);
    const t = thresholdsFor(this.settings, a.agentType ?? undefined);
    if (!decision.accept) {
      this.counts.rejected++;
      for (const w of this.windowsAt(a, at)) {
        w.writesRejected++;
        w.logBytes += f.recordBytes;
        w.rejectReasons[decision.reason] = (w.rejectReasons[decision.reason] ?? 0) + 1;
        w.lastOffset = offset;
      }
      onRejected(a.det, decision.reason, at, t, this.ctx(a), this.changes);
    } else {
      this.counts.applied++;
      a.head = { version: f.version, epoch: f.epoch };
      if (f.agentType !== undefined) a.agentType = f.agentType;
      const taskAt = a.det.taskAt;
      // Windows first: a window the event opens starts at the size before it.
      const windows = this.windowsAt(a, at);
      a.size += f.sizeDelta;
      for (const w of windows) {
        w.events++;
        w.eventTypes[f.eventType] = (w.eventTypes[f.eventType] ?? 0) + 1;
        if (w.firstVersion === 0) w.firstVersion = f.version;
        w.lastVersion = f.version;
        w.sizeEnd = a.size;
        if (a.size > w.sizeMax) w.sizeMax = a.size;
        w.changesetBytes += f.changesetBytes;
        w.logBytes += f.recordBytes;
        if (f.sealed) w.sealedEvents++;
        if (f.status !== undefined) w.statusChanges++;
        if (f.eventType === 'task_assigned') w.tasksAssigned++;
        else if (f.eventType === 'task_completed') {
          w.tasksCompleted++;
          if (taskAt !== null) {
            w.executionMsTotal += at - taskAt;
            w.executionCount++;
          }
        } else if (f.eventType === 'task_failed' || f.eventType === 'error_occurred') {
          w.errors++;
          if (taskAt !== null) w.tasksFailed++;
        }
        if (a.agentType !== null) w.agentType = a.agentType;
        w.lastOffset = offset;
      }
      onEvent(a.det, f, at, thresholdsFor(this.settings, a.agentType ?? undefined), this.ctx(a), this.changes);
    }
    if (at > this.p.watermark) this.advance(at);
  }

  /** Everything the records added since the last drain changed. */
  drain(): FoldOutput {
    const out: FoldOutput = {
      windows: [...this.dirtyWindows.values()],
      agents: [...this.dirtyAgents],
      anomalies: this.changes,
      partition: { ...this.p },
      applied: this.counts.applied,
      rejected: this.counts.rejected,
      skipped: this.counts.skipped,
      skipDetails: this.counts.details,
    };
    this.dirtyWindows = new Map();
    this.dirtyAgents = new Set();
    this.changes = [];
    this.counts = { applied: 0, rejected: 0, skipped: {}, details: {} };
    return out;
  }

  private advance(watermark: number): void {
    this.p.watermark = watermark;
    const tick = Math.floor(watermark / TICK_MS);
    if (tick <= this.p.tick) return;
    this.p.tick = tick;
    for (const a of this.agents.values()) {
      const before = this.changes.length;
      onTick(a.det, watermark, thresholdsFor(this.settings, a.agentType ?? undefined), this.ctx(a), this.changes);
      if (this.changes.length !== before) this.dirtyAgents.add(a);
    }
  }

  private ctx(a: AgentCheckpoint): { instanceId: string; agentType: string | null; size: number } {
    return { instanceId: a.instanceId, agentType: a.agentType, size: a.size };
  }

  /** The agent's window of each label holding `at`, opening a new one when `at` passed the open one. */
  private windowsAt(a: AgentCheckpoint, at: number): WindowAggregate[] {
    const out: WindowAggregate[] = [];
    for (const [label, ms] of this.windowList) {
      let w = a.windows[label];
      if (!w || at >= w.windowEnd) {
        w = emptyWindow(a.instanceId, a.agentType, label, ms, at, this.partition, a.size);
        a.windows[label] = w;
      }
      this.dirtyWindows.set(w._id, w);
      out.push(w);
    }
    return out;
  }

  private skip(reason: string, detail: string): void {
    this.counts.skipped[reason] = (this.counts.skipped[reason] ?? 0) + 1;
    this.counts.details[reason] ??= detail;
  }
}
