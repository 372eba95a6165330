export { RecoveryEngine, type RecoveryEngineOptions, type ValidationResult } from './engine.js';
export { RecoveryService, recoveryGroup, type RecoveryServiceOptions } from './service.js';
export { FleetView, type AgentOwner, type NodeEntry } from './view.js';
export { PhiAccrualDetector, type PhiOptions } from './phi.js';
export { DEFAULT_POLICY, backoffDelay, policyScopes, resolvePolicy, withDefaults } from './policy.js';
export { ESTIMATE_PRIORS, RecoveryHistory, estimate, type PlanEstimate } from './estimate.js';
export type { FailureDetection, RecoveryPlan, RecoveryPolicy, RecoveryRecord, RecoveryRecordStore, RecoveryStatus, RecoveryStep, RecoveryStrategy, RollbackPlan } from '../store/recovery-records.js';
