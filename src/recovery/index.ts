export { RecoveryEngine, type RecoveryEngineOptions, type ValidationResult } from './engine.js';
export { RecoveryService, recoveryGroup, type RecoveryServiceOptions } from './service.js';
export { FleetView, type AgentOwner, type NodeEntry } from './view.js';
export { PhiAccrualDetector, type PhiOptions } from './phi.js';
export { DEFAULT_POLICY, backoffDelay, policyScopes, resolvePolicy, withDefaults } from './policy.js';
export type { FailureDetection, RecoveryPolicy, RecoveryRecord, RecoveryRecordStore, RecoveryStatus, RecoveryStep, RecoveryStrategy } from '../store/recovery-records.js';
