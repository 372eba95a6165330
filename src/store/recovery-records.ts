// The recovery-record store port (issue 15): `recovery_records` and `recovery_policies`.
// Durable adapters: ./mongo/recovery-records.ts and ./sqlite/recovery-records.ts.

/** What the detector found (the seed's FailureDetection). */
export interface FailureDetection {
  /** `anomaly`: an anomaly from the analytics consumer (`<prefix>anomalies`) that the policy acts on. */
  type: 'node_silent' | 'agent_stuck' | 'error_burst' | 'crash_loop' | 'fenced_writes' | 'anomaly';
  instanceId: string;
  /** The node that hosted the agent when it failed. */
  nodeId: string | null;
  /** The epoch the failed owner wrote under: the recovery takes the agent to a higher one. */
  failedEpoch: number;
  detectedAt: number;
  /** When the failure happened as best known (a silent node: its last heartbeat). */
  failedAt: number;
  /** 0..1 */
  confidence: number;
  evidence: Record<string, string | number>;
}

/** The seed's RecoveryStrategy. */
export interface RecoveryStrategy {
  approach: 'restart' | 'restore' | 'migrate' | 'recreate';
  targetState: 'last_known_good' | 'previous_version' | 'clean_state';
  dataPreservation: 'preserve_all' | 'preserve_critical' | 'preserve_none';
  verificationRequired: boolean;
  autoRetry: {
    enabled: boolean;
    maxRetries: number;
    backoffStrategy: 'exponential' | 'linear' | 'fixed';
    /** First delay. @default 500 */
    baseDelayMs: number;
    /** Largest delay. @default 10000 */
    maxDelayMs: number;
  };
}

/** Auto-recovery policy of an agent (`agent:<id>`), an agent type (`type:<agentType>`) or everyone (`default`). */
export interface RecoveryPolicy {
  enabled: boolean;
  strategy: RecoveryStrategy;
  /** More than `maxRecoveries` recoveries within `windowMs`: a crash loop; the agent is marked `error` instead. */
  crashLoop: { maxRecoveries: number; windowMs: number };
  /** `errors` error_occurred events within `windowMs`: an error burst. */
  errorBurst: { errors: number; windowMs: number };
  /** A task assigned and no event of the agent for this long: stuck. 0 = off. */
  stuckTaskMs: number;
  /**
   * What to do about an anomaly the analytics consumer publishes, by its kind
   * (loop, runaway_growth, error_burst, status_flapping, velocity_spike,
   * velocity_stall, fencing_storm, stuck_task): from `minSeverity` up, recover
   * the agent with `approach`. Kinds not listed are left alone. @default {}
   */
  anomalyActions: Record<string, AnomalyAction>;
}

export interface AnomalyAction {
  minSeverity: 'info' | 'warning' | 'critical';
  approach: 'restart' | 'restore';
}

export interface RecoveryStep {
  name: 'detect' | 'claim' | 'plan' | 'state_operation' | 'command' | 'serving' | 'validate' | 'mark_error';
  at: number;
  ms: number;
  detail?: string;
}

/**
 * The seed's RollbackPlan for a recovery: the version and state the agent is
 * returned to if the recovery fails (its head when the plan was made, before
 * any state operation), and how.
 */
export interface RollbackPlan {
  /** The head version when the plan was made; 0 when the agent was not in the log. */
  version: number;
  /** Its epoch and checksum (the state to return to is exactly this one). */
  epoch: number;
  checksum: string | null;
  /** The agent's status at that version. */
  status: string | null;
  /**
   * `none`: the plan writes no state (restart), so a failure leaves the agent
   * at `version`; `rollback_to_version`: undo the plan's state operation with
   * `agentstate rollback <id> <version>` (a new state_rolled_back event).
   */
  action: 'none' | 'rollback_to_version';
  detail: string;
}

/** The seed's RecoveryPlan (recoveryId and instanceId are on the record). */
export interface RecoveryPlan {
  failureType: FailureDetection['type'];
  strategy: RecoveryStrategy;
  /** The steps the plan will take, in order (the record's `steps` are the ones taken). */
  plannedSteps: RecoveryStep['name'][];
  /** Expected time from detection to finish, ms (src/recovery/estimate.ts: the median of past recoveries of this kind, or a documented prior). */
  estimatedDuration: number;
  /** 0..1, from the recorded outcomes of this strategy (Laplace's rule: 0.5 without history). */
  successProbability: number;
  /** What the estimates came from: how many past durations and outcomes, and whether a prior stood in for missing history. */
  estimateBasis: { durationSamples: number; outcomes: number; successes: number; prior: boolean };
  rollbackPlan: RollbackPlan;
  targetNode: string | null;
  targetVersion: number | null;
  attempts: number;
}

export type RecoveryStatus = 'in_progress' | 'succeeded' | 'failed' | 'rejected' | 'skipped' | 'gave_up';

/** One recovery (the `recovery_records` document). */
export interface RecoveryRecord {
  /** `<instanceId>@<failedEpoch>`: every detector instance derives the same id, so one failure gets one record. */
  recoveryId: string;
  instanceId: string;
  failure: FailureDetection;
  plan: RecoveryPlan | null;
  steps: RecoveryStep[];
  status: RecoveryStatus;
  result: {
    reason: string;
    servingNode?: string;
    epoch?: number;
    version?: number;
    checksum?: string;
    timeToDetectMs?: number;
    timeToServingMs?: number;
    /** Detection to finish, ms: what later plans' estimatedDuration is computed from. */
    durationMs?: number;
  } | null;
  /** The detector instance working on it, and until when (it renews while it works; a later instance takes over an expired lease). */
  owner: string;
  generation: number;
  leaseUntil: number;
  createdAt: number;
  updatedAt: number;
}

export interface RecordFilter {
  instanceId?: string;
  status?: RecoveryStatus;
  /** createdAt >= since */
  since?: number;
  /** Newest first. @default 100 */
  limit?: number;
}

export interface RecoveryRecordStore {
  setup(): Promise<void>;
  /** Inserts a new record unless one with its id exists (unique-key insert: exactly one caller wins). */
  create(record: RecoveryRecord): Promise<boolean>;
  /**
   * Claims generation `generation` (>= 2) of a recovery whose owner's lease
   * expired: a unique-key insert, so exactly one taker wins even on servers
   * without atomic conditional updates (FerretDB).
   */
  claim(recoveryId: string, generation: number, owner: string): Promise<boolean>;
  /** Replaces the record (by recoveryId). */
  save(record: RecoveryRecord): Promise<void>;
  get(recoveryId: string): Promise<RecoveryRecord | undefined>;
  list(filter?: RecordFilter): Promise<RecoveryRecord[]>;
  getPolicy(scope: string): Promise<RecoveryPolicy | undefined>;
  putPolicy(scope: string, policy: RecoveryPolicy): Promise<void>;
  listPolicies(): Promise<{ scope: string; policy: RecoveryPolicy }[]>;
  /** Safe to call twice; never closes a connection the caller passed in. */
  close(): Promise<void>;
}

/** Filters and orders records the same way on every adapter. */
export function applyFilter(records: RecoveryRecord[], filter: RecordFilter = {}): RecoveryRecord[] {
  return records
    .filter((r) => (filter.instanceId === undefined || r.instanceId === filter.instanceId) && (filter.status === undefined || r.status === filter.status) && (filter.since === undefined || r.createdAt >= filter.since))
    .sort((a, b) => b.createdAt - a.createdAt || (a.recoveryId < b.recoveryId ? -1 : 1))
    .slice(0, filter.limit ?? 100);
}
