import type { AgentState, AgentStatus, JsonObject, JsonValue, TaskRecord } from '../domain/index.js';
import { InvalidInputError } from '../domain/errors.js';
import type { Update, UpdateOptions } from './types.js';

/** An update plus the event type the seed gives it. */
export interface TypedUpdate {
  update: Update;
  options: UpdateOptions;
}

/** What a caller passes to start a task. */
export interface TaskInput {
  taskId: string;
  type: string;
  input?: JsonValue;
}

/** What a caller passes to release resources: amounts to subtract (floored at 0), or `'all'`. */
export type ResourceRelease = 'all' | { cpuCores?: number; memoryMb?: number; gpuCount?: number; [extra: string]: number | undefined };

/** A snapshot as `snapshot_created` records it (the snapshot itself is in `state_snapshots`). */
export interface SnapshotInfo {
  snapshotId: string;
  /** The state version the snapshot holds (it may trail the head: the projector's view). */
  version: number;
  type: 'full' | 'incremental' | 'checkpoint';
  /** The seed's trigger. @default 'manual' */
  trigger?: 'scheduled' | 'manual' | 'event' | 'migration';
}

/** A live migration as its events record it (the full record is in `migrations`). */
export interface MigrationInfo {
  migrationId: string;
  sourceNodeId: string;
  targetNodeId: string;
  /** The seed's migrationType. @default 'live' */
  migrationType?: 'live' | 'cold' | 'planned' | 'emergency';
}

const HISTORY_LIMIT = 100;
const STANDARD_RESOURCES = ['cpuCores', 'memoryMb', 'gpuCount'] as const;

function finishTask(draft: AgentState, status: 'completed' | 'failed', fields: Partial<TaskRecord>): void {
  const task = draft.executionState.currentTask;
  if (!task) throw new InvalidInputError('task', 'the agent has no current task');
  draft.executionState.taskHistory = [...draft.executionState.taskHistory, { ...task, ...fields, status, completedAt: Date.now() }].slice(-HISTORY_LIMIT);
  draft.executionState.currentTask = null;
}

function migrationMetadata(info: MigrationInfo): Record<string, string> {
  return { migrationId: info.migrationId, sourceNodeId: info.sourceNodeId, targetNodeId: info.targetNodeId, migrationType: info.migrationType ?? 'live' };
}

/** Builders for the seed's event types; each is a changeset on the state plus its eventType. */
export const typed = {
  taskAssigned(task: TaskInput): TypedUpdate {
    return {
      update: (d) => {
        d.status = 'running';
        d.executionState.currentTask = {
          taskId: task.taskId,
          type: task.type,
          status: 'running',
          startedAt: Date.now(),
          completedAt: null,
          input: task.input ?? null,
          result: null,
          error: null,
        };
      },
      options: { eventType: 'task_assigned', metadata: { taskId: task.taskId } },
    };
  },
  taskCompleted(result: JsonValue = null): TypedUpdate {
    return {
      update: (d) => {
        finishTask(d, 'completed', { result });
        d.status = 'idle';
      },
      options: { eventType: 'task_completed' },
    };
  },
  taskFailed(error: string): TypedUpdate {
    return {
      update: (d) => {
        finishTask(d, 'failed', { error });
        d.status = 'idle';
      },
      options: { eventType: 'task_failed', metadata: { error: error.slice(0, 200) } },
    };
  },
  errorOccurred(error: { message: string; code?: string; fatal?: boolean }): TypedUpdate {
    return {
      update: (d) => {
        d.executionState.processState.lastError = { message: error.message, code: error.code ?? null, at: Date.now() };
        if (error.fatal) d.status = 'error';
      },
      options: { eventType: 'error_occurred', metadata: { code: error.code ?? 'unknown' } },
    };
  },
  statusChanged(status: AgentStatus, reason?: string): TypedUpdate {
    return { update: (d) => void (d.status = status), options: { eventType: 'status_changed', ...(reason ? { metadata: { reason } } : {}) } };
  },
  capabilityAdded(capability: string): TypedUpdate {
    return {
      update: (d) => {
        if (!d.capabilities.includes(capability)) d.capabilities.push(capability);
      },
      options: { eventType: 'capability_added', metadata: { capability } },
    };
  },
  capabilityRemoved(capability: string): TypedUpdate {
    return { update: (d) => void (d.capabilities = d.capabilities.filter((c) => c !== capability)), options: { eventType: 'capability_removed', metadata: { capability } } };
  },
  configurationUpdated(patch: JsonObject): TypedUpdate {
    return { update: (d) => void Object.assign(d.configuration, patch), options: { eventType: 'configuration_updated' } };
  },
  resourceAllocated(resources: Partial<AgentState['resourceAllocation']>): TypedUpdate {
    return { update: (d) => void Object.assign(d.resourceAllocation, resources), options: { eventType: 'resource_allocated' } };
  },
  resourceDeallocated(release: ResourceRelease): TypedUpdate {
    return {
      update: (d) => {
        const r = d.resourceAllocation as Record<string, JsonValue>;
        if (release === 'all') {
          for (const key of Object.keys(r)) if (!(STANDARD_RESOURCES as readonly string[]).includes(key)) delete r[key];
          for (const key of STANDARD_RESOURCES) r[key] = 0;
          return;
        }
        for (const [key, amount] of Object.entries(release)) {
          if (amount === undefined) continue;
          if (!Number.isFinite(amount) || amount < 0) throw new InvalidInputError('resources', `${key}: ${amount} is not a non-negative number`);
          const held = r[key];
          if (typeof held !== 'number') throw new InvalidInputError('resources', `${key} is not allocated`);
          r[key] = Math.max(0, held - amount);
        }
      },
      options: { eventType: 'resource_deallocated', metadata: { released: release === 'all' ? 'all' : Object.keys(release).sort().join(',') } },
    };
  },
  /** Records a snapshot in the history; the state does not change (an empty changeset). */
  snapshotCreated(info: SnapshotInfo): TypedUpdate {
    return {
      update: () => undefined,
      options: {
        eventType: 'snapshot_created',
        metadata: { snapshotId: info.snapshotId, snapshotVersion: String(info.version), snapshotType: info.type, trigger: info.trigger ?? 'manual' },
      },
    };
  },
  /** The source's last event before the hand-over: status `migrating`; the status to resume is kept in processState.migration. */
  migrationStarted(info: MigrationInfo): TypedUpdate {
    return {
      update: (d) => {
        const resumeStatus = d.status === 'migrating' ? 'idle' : d.status;
        d.executionState.processState.migration = {
          migrationId: info.migrationId,
          sourceNodeId: info.sourceNodeId,
          targetNodeId: info.targetNodeId,
          migrationType: info.migrationType ?? 'live',
          resumeStatus,
          startedAt: Date.now(),
        };
        d.status = 'migrating';
      },
      options: { eventType: 'migration_started', metadata: migrationMetadata(info) },
    };
  },
  /** The target's first event after it took ownership: the status from before the migration comes back. */
  migrationCompleted(info: MigrationInfo): TypedUpdate {
    return {
      update: (d) => {
        const m = d.executionState.processState.migration as { migrationId?: JsonValue; resumeStatus?: JsonValue } | undefined;
        if (m?.migrationId !== info.migrationId) throw new InvalidInputError('migrationId', `agent has no migration ${info.migrationId} in progress`);
        d.status = (typeof m.resumeStatus === 'string' ? m.resumeStatus : 'idle') as AgentStatus;
        delete d.executionState.processState.migration;
      },
      options: { eventType: 'migration_completed', metadata: migrationMetadata(info) },
    };
  },
  memoryUpdated(patch: JsonObject): TypedUpdate {
    return { update: (d) => void Object.assign(d.memory, patch), options: { eventType: 'memory_updated' } };
  },
  performanceUpdated(metrics: JsonObject): TypedUpdate {
    return { update: (d) => void Object.assign(d.performance, metrics), options: { eventType: 'performance_updated' } };
  },
};
