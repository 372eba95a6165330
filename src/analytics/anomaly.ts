import { createHash } from 'node:crypto';

export const ANOMALY_TYPES = ['loop', 'runaway_growth', 'error_burst', 'status_flapping', 'velocity_spike', 'velocity_stall', 'fencing_storm', 'stuck_task'] as const;
export type AnomalyType = (typeof ANOMALY_TYPES)[number];
export type Severity = 'info' | 'warning' | 'critical';
const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/**
 * One anomaly of one agent, from the moment a detector flags it until it
 * stops (docs/analytics.md, The Anomaly record). Stored in `state_anomalies`
 * (`_id` = anomalyId) and published on `<prefix>anomalies` when it opens,
 * when its severity rises and when it resolves.
 */
export interface AnomalyRecord {
  /** Deterministic: the same log flags the same ids, so a replay rewrites, never duplicates. */
  anomalyId: string;
  instanceId: string;
  agentType: string | null;
  type: AnomalyType;
  severity: Severity;
  status: 'active' | 'resolved';
  /** Log time (event timestamps) of the first and the latest evidence, and of the resolution. */
  firstSeenAt: number;
  lastSeenAt: number;
  resolvedAt: number | null;
  /** Versions the evidence spans. */
  fromVersion: number;
  toVersion: number;
  observed: number | null;
  expected: number | null;
  score: number | null;
  description: string;
  /** Detector-specific figures as strings (e.g. repeats, period, checksums). */
  evidence: Record<string, string>;
}

/** What a detector reports while its condition holds. */
export interface Finding {
  severity: Severity;
  description: string;
  observed?: number;
  expected?: number;
  score?: number;
  /** The first version of the evidence (when the condition started). */
  fromVersion: number;
  evidence: Record<string, string>;
}

/** An anomaly that changed in this batch; `publish` when the recovery engine must hear of it. */
export interface AnomalyChange {
  record: AnomalyRecord;
  publish: boolean;
}

/** Opens or extends the agent's anomaly of `type`. */
export function raise(active: Partial<Record<AnomalyType, AnomalyRecord>>, ctx: { instanceId: string; agentType: string | null; at: number; version: number }, type: AnomalyType, f: Finding, out: AnomalyChange[]): void {
  const open = active[type];
  if (open) {
    const rose = RANK[f.severity] > RANK[open.severity];
    open.lastSeenAt = Math.max(open.lastSeenAt, ctx.at);
    open.toVersion = Math.max(open.toVersion, ctx.version);
    if (rose) open.severity = f.severity;
    if (f.observed !== undefined) open.observed = f.observed;
    if (f.score !== undefined) open.score = f.score;
    open.evidence = { ...open.evidence, ...f.evidence };
    push(out, open, rose);
    return;
  }
  const anomalyId = createHash('sha256').update(`${ctx.instanceId}\0${type}\0${f.fromVersion}\0${ctx.at}`).digest('hex').slice(0, 32);
  const record: AnomalyRecord = {
    anomalyId,
    instanceId: ctx.instanceId,
    agentType: ctx.agentType,
    type,
    severity: f.severity,
    status: 'active',
    firstSeenAt: ctx.at,
    lastSeenAt: ctx.at,
    resolvedAt: null,
    fromVersion: f.fromVersion,
    toVersion: ctx.version,
    observed: f.observed ?? null,
    expected: f.expected ?? null,
    score: f.score ?? null,
    description: f.description,
    evidence: f.evidence,
  };
  active[type] = record;
  push(out, record, true);
}

/** Resolves the agent's anomaly of `type`, if one is open. */
export function resolve(active: Partial<Record<AnomalyType, AnomalyRecord>>, type: AnomalyType, at: number, out: AnomalyChange[]): void {
  const open = active[type];
  if (!open) return;
  delete active[type];
  open.status = 'resolved';
  open.resolvedAt = Math.max(at, open.lastSeenAt);
  push(out, open, true);
}

/** One entry per anomaly in a batch: the latest version of it, published if any change asked to. */
function push(out: AnomalyChange[], record: AnomalyRecord, publish: boolean): void {
  const prev = out.find((c) => c.record.anomalyId === record.anomalyId);
  if (prev) {
    prev.record = { ...record, evidence: { ...record.evidence } };
    prev.publish ||= publish;
  } else out.push({ record: { ...record, evidence: { ...record.evidence } }, publish });
}
