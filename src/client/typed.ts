import type { AgentState, AgentStatus, JsonObject, JsonValue, TaskRecord } from '../domain/index.js';
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

const HISTORY_LIMIT = 100;

function finishTask(draft: AgentState, status: 'completed' | 'failed', fields: Partial<TaskRecord>): void {
  const task = draft.executionState.currentTask;
  if (!task) throw new Error('no current task');
  draft.executionState.taskHistory = [...draft.executionState.taskHistory, { ...task, ...fields, status, completedAt: Date.now() }].slice(-HISTORY_LIMIT);
  draft.executionState.currentTask = null;
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
  memoryUpdated(patch: JsonObject): TypedUpdate {
    return { update: (d) => void Object.assign(d.memory, patch), options: { eventType: 'memory_updated' } };
  },
  performanceUpdated(metrics: JsonObject): TypedUpdate {
    return { update: (d) => void Object.assign(d.performance, metrics), options: { eventType: 'performance_updated' } };
  },
};
