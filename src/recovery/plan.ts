import type { AgentStateClient } from '../client/client.js';
import type { FailureDetection, RecoveryPlan, RecoveryPolicy, RecoveryStrategy } from '../store/recovery-records.js';
import type { PlanEstimate } from './estimate.js';

/**
 * The seed's RecoveryPlan, built from a failure, the strategy in force, the
 * agent's head and the estimates from past recoveries (src/recovery/estimate.ts):
 * the steps the strategy takes and the rollback plan, which names the head now
 * (before any state operation) as the state to return to if the recovery fails.
 * The engine fills in the target node, version and attempts as it executes.
 */
export function planOf(failure: FailureDetection, strategy: RecoveryStrategy, head: ReturnType<AgentStateClient['getState']>, est: PlanEstimate): RecoveryPlan {
  return {
    failureType: failure.type,
    strategy,
    plannedSteps: [...(fencesFirst(failure, strategy) ? (['state_operation'] as const) : []), 'plan', 'command', 'serving', ...(strategy.verificationRequired ? (['validate'] as const) : [])],
    estimatedDuration: est.estimatedDuration,
    successProbability: est.successProbability,
    estimateBasis: est.basis,
    rollbackPlan: rollbackPlanOf(failure.instanceId, head, strategy),
    targetNode: null,
    targetVersion: null,
    attempts: 0,
  };
}

/** The state to return to if the recovery fails: the head before the plan's state operation. */
export function rollbackPlanOf(instanceId: string, head: ReturnType<AgentStateClient['getState']>, strategy: RecoveryStrategy): RecoveryPlan['rollbackPlan'] {
  if (!head) return { version: 0, epoch: 0, checksum: null, status: null, action: 'none', detail: `${instanceId} is not in this instance's view of the log: nothing to return to` };
  const writes = strategy.approach === 'restore';
  return {
    version: head.version,
    epoch: head.epoch,
    checksum: head.checksum,
    status: head.state.status,
    action: writes ? 'rollback_to_version' : 'none',
    detail: writes
      ? `if the restore fails, return to version ${head.version} (checksum ${head.checksum.slice(0, 12)}): agentstate rollback ${instanceId} ${head.version}`
      : `the plan writes no state: a failed recovery leaves ${instanceId} at version ${head.version} (status ${head.state.status})`,
  };
}

/** Whether the owner is fenced (and a restore's state operation written) before the start: a restore, or an owner that may still be alive. */
export function fencesFirst(failure: FailureDetection, strategy: RecoveryStrategy): boolean {
  return strategy.approach === 'restore' || failure.type === 'error_burst' || failure.type === 'agent_stuck' || failure.type === 'anomaly';
}

/** The control command's recoveryTarget for a strategy's targetState. */
export function seedTarget(t: RecoveryPolicy['strategy']['targetState']): 'last_known_good' | 'previous' | 'clean' {
  return t === 'previous_version' ? 'previous' : t === 'clean_state' ? 'clean' : 'last_known_good';
}
