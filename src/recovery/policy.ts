import type { RecoveryPolicy, RecoveryRecordStore, RecoveryStrategy } from '../store/recovery-records.js';

/** The policy of an agent with none of its own and none for its type. */
export const DEFAULT_POLICY: RecoveryPolicy = {
  enabled: true,
  strategy: {
    approach: 'restart',
    targetState: 'last_known_good',
    dataPreservation: 'preserve_all',
    verificationRequired: true,
    autoRetry: { enabled: true, maxRetries: 3, backoffStrategy: 'exponential', baseDelayMs: 500, maxDelayMs: 10_000 },
  },
  crashLoop: { maxRecoveries: 3, windowMs: 5 * 60_000 },
  errorBurst: { errors: 5, windowMs: 60_000 },
  stuckTaskMs: 0,
  anomalyActions: {},
};

/** Scopes, most specific first: `agent:<id>`, `type:<agentType>`, `default`. */
export function policyScopes(instanceId: string, agentType: string | undefined): string[] {
  return [`agent:${instanceId}`, ...(agentType ? [`type:${agentType}`] : []), 'default'];
}

/** The policy in force for an agent: its own, else its type's, else the stored default, else DEFAULT_POLICY. */
export async function resolvePolicy(store: RecoveryRecordStore, instanceId: string, agentType: string | undefined): Promise<{ scope: string; policy: RecoveryPolicy }> {
  for (const scope of policyScopes(instanceId, agentType)) {
    const p = await store.getPolicy(scope);
    if (p) return { scope, policy: withDefaults(p) };
  }
  return { scope: 'built-in', policy: DEFAULT_POLICY };
}

/** Fills what an older or partial stored policy lacks. */
export function withDefaults(p: Partial<RecoveryPolicy>): RecoveryPolicy {
  return {
    ...DEFAULT_POLICY,
    ...p,
    strategy: { ...DEFAULT_POLICY.strategy, ...p.strategy, autoRetry: { ...DEFAULT_POLICY.strategy.autoRetry, ...p.strategy?.autoRetry } },
    crashLoop: { ...DEFAULT_POLICY.crashLoop, ...p.crashLoop },
    errorBurst: { ...DEFAULT_POLICY.errorBurst, ...p.errorBurst },
    anomalyActions: { ...p.anomalyActions },
  };
}

/** Delay before retry `attempt` (1 = the first retry). */
export function backoffDelay(retry: RecoveryStrategy['autoRetry'], attempt: number): number {
  const n = Math.max(1, attempt);
  const raw = retry.backoffStrategy === 'fixed' ? retry.baseDelayMs : retry.backoffStrategy === 'linear' ? retry.baseDelayMs * n : retry.baseDelayMs * 2 ** (n - 1);
  return Math.min(retry.maxDelayMs, raw);
}
