import type { FailureDetection, RecoveryRecord, RecoveryRecordStore, RecoveryStrategy } from '../store/recovery-records.js';

/**
 * What the plan's estimates start from when there is no history (the seed's
 * RecoveryPlan `estimatedDuration` and `successProbability`, issue 15).
 */
export const ESTIMATE_PRIORS = {
  /**
   * Detection to finish, ms, by approach, when no recovery of that kind has
   * succeeded yet: the goal for kill → serving (5 s) for a restart,
   * plus one more second for the state operation (fence, fold, write) of a restore.
   */
  durationMs: { restart: 5000, restore: 6000, migrate: 5000, recreate: 5000 } as Record<RecoveryStrategy['approach'], number>,
  /**
   * Beta(successes, failures) prior of the success probability: Beta(1, 1),
   * Laplace's rule of succession, (s + 1) / (n + 2). No history gives 0.5,
   * "not known", and each recorded outcome moves it.
   */
  successes: 1,
  failures: 1,
} as const;

/** How many recent finished records the estimates read. @default 500 */
const HISTORY_LIMIT = 500;
/** The history is read again when older than this (many recoveries start at once when a host dies). @default 5000 */
const HISTORY_TTL_MS = 5000;
/** Durations: the last this many recoveries of the kind. @default 50 */
const DURATION_SAMPLES = 50;

/** The estimates of a plan and the history they came from. */
export interface PlanEstimate {
  /** Median duration, detection to finish, of past successful recoveries of this kind (failure type and approach), ms; a prior without history. */
  estimatedDuration: number;
  /** (successes + 1) / (finished + 2) over past recoveries with this strategy (approach and target state). */
  successProbability: number;
  basis: { durationSamples: number; outcomes: number; successes: number; prior: boolean };
}

/** A finished record's duration, detection to finish (older records lack result.durationMs: their last update is when they finished). */
function durationOf(r: RecoveryRecord): number {
  return r.result?.durationMs ?? r.updatedAt - r.failure.detectedAt;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : Math.round((s[m - 1]! + s[m]!) / 2);
}

/**
 * Reads recent finished recoveries (cached for a few seconds, one read at a
 * time) and estimates a new plan from them.
 */
export class RecoveryHistory {
  private cached: { at: number; records: RecoveryRecord[] } | undefined;
  private reading: Promise<RecoveryRecord[]> | undefined;

  constructor(private readonly store: RecoveryRecordStore) {}

  private async records(now: number): Promise<RecoveryRecord[]> {
    if (this.cached && now - this.cached.at < HISTORY_TTL_MS) return this.cached.records;
    this.reading ??= this.store
      .list({ limit: HISTORY_LIMIT })
      .then((records) => {
        this.cached = { at: Date.now(), records };
        return records;
      })
      .finally(() => (this.reading = undefined));
    return this.reading;
  }

  /** Adds a record this instance just finished, so the next plans count it before the next read. */
  remember(record: RecoveryRecord): void {
    if (!this.cached) return;
    this.cached.records = [record, ...this.cached.records.filter((r) => r.recoveryId !== record.recoveryId)];
  }

  async estimate(failure: FailureDetection, strategy: RecoveryStrategy, now = Date.now()): Promise<PlanEstimate> {
    return estimate(await this.records(now), failure, strategy);
  }
}

/** The estimates for one plan from finished records (newest first); `skipped` and `gave_up` say nothing about a strategy and are not counted. */
export function estimate(records: RecoveryRecord[], failure: FailureDetection, strategy: RecoveryStrategy): PlanEstimate {
  const finished = records.filter((r) => r.plan && (r.status === 'succeeded' || r.status === 'failed'));
  const sameStrategy = finished.filter((r) => r.plan!.strategy.approach === strategy.approach && r.plan!.strategy.targetState === strategy.targetState);
  const successes = sameStrategy.filter((r) => r.status === 'succeeded').length;
  const durations = finished
    .filter((r) => r.status === 'succeeded' && r.failure.type === failure.type && r.plan!.strategy.approach === strategy.approach)
    .slice(0, DURATION_SAMPLES)
    .map(durationOf)
    .filter((d) => d >= 0);
  const p = (successes + ESTIMATE_PRIORS.successes) / (sameStrategy.length + ESTIMATE_PRIORS.successes + ESTIMATE_PRIORS.failures);
  return {
    estimatedDuration: durations.length ? median(durations) : ESTIMATE_PRIORS.durationMs[strategy.approach],
    successProbability: Math.round(p * 1000) / 1000,
    basis: { durationSamples: durations.length, outcomes: sameStrategy.length, successes, prior: durations.length === 0 || sameStrategy.length === 0 },
  };
}
