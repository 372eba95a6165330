/**
 * Per-agent tumbling-window aggregates (issue 16). One document per agent,
 * window label and window start: `_id` `<instanceId>|<label>|<start>`, so a
 * rewrite of the same window replaces it (idempotent, DESIGN.md Invariant 4).
 */
export interface WindowAggregate {
  _id: string;
  instanceId: string;
  agentType: string | null;
  /** The window's label, e.g. `1m` or `1h`. */
  window: string;
  windowStart: number;
  windowEnd: number;
  partition: number;
  /** The last event offset folded in (decimal string): what a restart resumes after. */
  lastOffset: string;
  /** Accepted events. */
  events: number;
  eventTypes: Record<string, number>;
  firstVersion: number;
  lastVersion: number;
  /** Estimated state size (bytes of canonical JSON) before the window's first event, after its last, and the largest. */
  sizeStart: number;
  sizeEnd: number;
  sizeMax: number;
  changesetBytes: number;
  /** Bytes of the agent's records on the log (key + headers + value), accepted and refused alike: `recordBytes`. */
  logBytes: number;
  /** Events whose changeset is sealed (encrypted): no size figures for them. */
  sealedEvents: number;
  tasksAssigned: number;
  tasksCompleted: number;
  tasksFailed: number;
  /** error_occurred + task_failed. */
  errors: number;
  /** Sum and count of task execution times (task_assigned → task_completed), ms of log time. */
  executionMsTotal: number;
  executionCount: number;
  statusChanges: number;
  /** Events the log refuses (stale epoch, gap, duplicate...): they reach the DLQ, never the state. */
  writesRejected: number;
  rejectReasons: Record<string, number>;
}

export function windowId(instanceId: string, label: string, start: number): string {
  return `${instanceId}|${label}|${start}`;
}

export function emptyWindow(instanceId: string, agentType: string | null, label: string, ms: number, at: number, partition: number, size: number): WindowAggregate {
  const windowStart = Math.floor(at / ms) * ms;
  return {
    _id: windowId(instanceId, label, windowStart),
    instanceId,
    agentType,
    window: label,
    windowStart,
    windowEnd: windowStart + ms,
    partition,
    lastOffset: '-1',
    events: 0,
    eventTypes: {},
    firstVersion: 0,
    lastVersion: 0,
    sizeStart: size,
    sizeEnd: size,
    sizeMax: size,
    changesetBytes: 0,
    logBytes: 0,
    sealedEvents: 0,
    tasksAssigned: 0,
    tasksCompleted: 0,
    tasksFailed: 0,
    errors: 0,
    executionMsTotal: 0,
    executionCount: 0,
    statusChanges: 0,
    writesRejected: 0,
    rejectReasons: {},
  };
}

/** The seed's figures derived from a window (StateMetrics): rates per hour, shares in 0..1. */
export interface WindowFigures {
  /** Accepted events per hour. */
  updateFrequency: number;
  /** Bytes per hour the state grew (negative: shrank). */
  sizeGrowthRate: number;
  errorRate: number;
  /** Completed over finished tasks; null when none finished. */
  taskCompletionRate: number | null;
  /** ms; null when no task completed. */
  averageExecutionTime: number | null;
  averageChangesetBytes: number;
}

export function figures(
  w: Pick<WindowAggregate, 'windowStart' | 'windowEnd' | 'events' | 'sizeStart' | 'sizeEnd' | 'errors' | 'tasksCompleted' | 'tasksFailed' | 'executionMsTotal' | 'executionCount' | 'changesetBytes'>,
): WindowFigures {
  const hours = (w.windowEnd - w.windowStart) / 3_600_000;
  const finished = w.tasksCompleted + w.tasksFailed;
  return {
    updateFrequency: w.events / hours,
    sizeGrowthRate: (w.sizeEnd - w.sizeStart) / hours,
    errorRate: w.events === 0 ? 0 : w.errors / w.events,
    taskCompletionRate: finished === 0 ? null : w.tasksCompleted / finished,
    averageExecutionTime: w.executionCount === 0 ? null : w.executionMsTotal / w.executionCount,
    averageChangesetBytes: w.events === 0 ? 0 : w.changesetBytes / w.events,
  };
}
