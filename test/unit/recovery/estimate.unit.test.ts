import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, ESTIMATE_PRIORS, estimate, type FailureDetection, type RecoveryRecord, type RecoveryStrategy } from '../../../src/recovery/index.js';

const restart: RecoveryStrategy = DEFAULT_POLICY.strategy;
const restore: RecoveryStrategy = { ...DEFAULT_POLICY.strategy, approach: 'restore' };

function failure(type: FailureDetection['type'], detectedAt: number): FailureDetection {
  return { type, instanceId: 'a', nodeId: 'n', failedEpoch: 2, detectedAt, failedAt: detectedAt - 1000, confidence: 1, evidence: {} };
}

/** A finished record: detected at `at`, finished `durationMs` later. */
function rec(n: number, type: FailureDetection['type'], strategy: RecoveryStrategy, status: RecoveryRecord['status'], durationMs: number | undefined, at = 1_000_000 + n): RecoveryRecord {
  return {
    recoveryId: `a${n}@2`,
    instanceId: `a${n}`,
    failure: failure(type, at),
    plan: { strategy } as RecoveryRecord['plan'], // the estimates read only the strategy of past plans
    steps: [],
    status,
    result: { reason: status, ...(durationMs === undefined ? {} : { durationMs }) },
    owner: 'r',
    generation: 1,
    leaseUntil: 0,
    createdAt: at,
    updatedAt: at + 777,
  };
}

describe('recovery plan estimates', () => {
  it('without history: the documented priors', () => {
    expect(estimate([], failure('node_silent', 0), restart)).toEqual({
      estimatedDuration: ESTIMATE_PRIORS.durationMs.restart,
      successProbability: 0.5,
      basis: { durationSamples: 0, outcomes: 0, successes: 0, prior: true },
    });
  });

  it('duration: the median of successful recoveries of the same failure type and approach; probability: Laplace over the strategy outcomes', () => {
    const records = [
      rec(1, 'node_silent', restart, 'succeeded', 1000),
      rec(2, 'node_silent', restart, 'succeeded', 3000),
      rec(3, 'node_silent', restart, 'succeeded', 2000),
      rec(4, 'node_silent', restart, 'failed', 9000), // an outcome, not a duration
      rec(5, 'error_burst', restart, 'succeeded', 50_000), // another failure type: not a duration for node_silent, but an outcome of the strategy
      rec(6, 'node_silent', restore, 'succeeded', 40_000), // another strategy
      rec(7, 'node_silent', restart, 'skipped', 1), // says nothing about the strategy
      rec(8, 'node_silent', restart, 'gave_up', 1),
      rec(9, 'node_silent', restart, 'succeeded', undefined), // an older record: its last update is when it finished
    ];
    expect(estimate(records, failure('node_silent', 0), restart)).toEqual({
      // 777 (record 9: updatedAt - detectedAt), 1000, 2000, 3000
      estimatedDuration: 1500,
      successProbability: 0.75, // (5 + 1) / (6 + 2)
      basis: { durationSamples: 4, outcomes: 6, successes: 5, prior: false },
    });
  });
});
