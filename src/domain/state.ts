import type { InstanceId } from './ids.js';
import type { JsonObject, JsonValue } from './json.js';

/** Lifecycle status of an agent. */
export type AgentStatus = 'initializing' | 'idle' | 'running' | 'paused' | 'migrating' | 'recovering' | 'error' | 'terminated';

/** A unit of work an agent runs. */
export interface TaskRecord {
  taskId: string;
  type: string;
  status: 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
  startedAt: number | null;
  completedAt: number | null;
  input: JsonValue;
  result: JsonValue;
  error: string | null;
}

/**
 * An agent's state (the seed's AgentState sections). Every part is plain JSON,
 * because state is the fold of JSON changesets and is checksummed as canonical
 * JSON (DESIGN.md Invariant 2); `memory` is the agent's open-ended working data
 * (conversation, tool calls, embeddings) and can be megabytes.
 */
export interface AgentState {
  instanceId: InstanceId;
  agentType: string;
  status: AgentStatus;
  configuration: JsonObject;
  capabilities: string[];
  resourceAllocation: {
    cpuCores: number;
    memoryMb: number;
    gpuCount: number;
    [extra: string]: JsonValue;
  };
  executionState: {
    currentTask: TaskRecord | null;
    taskHistory: TaskRecord[];
    memoryUsage: { heapUsedBytes: number; rssBytes: number; [extra: string]: JsonValue };
    processState: JsonObject;
    communicationState: JsonObject;
  };
  performance: JsonObject;
  memory: JsonObject;
  createdAt: number;
}

/**
 * A new agent's state with every section present and empty, so that
 * changesets can address `/memory/...` or `/executionState/taskHistory/-`
 * from the first event on.
 */
export function initialState(id: InstanceId, agentType: string, createdAt: number, overrides: Partial<AgentState> = {}): AgentState {
  return {
    instanceId: id,
    agentType,
    status: 'initializing',
    configuration: {},
    capabilities: [],
    resourceAllocation: { cpuCores: 0, memoryMb: 0, gpuCount: 0 },
    executionState: {
      currentTask: null,
      taskHistory: [],
      memoryUsage: { heapUsedBytes: 0, rssBytes: 0 },
      processState: {},
      communicationState: {},
    },
    performance: {},
    memory: {},
    createdAt,
    ...overrides,
  };
}

/**
 * Views an {@link AgentState} as the JSON object the reducer, diff and
 * checksum work on (an interface without an index signature is not
 * assignable to `JsonObject` in TypeScript, though every value in it is JSON).
 */
export function stateAsJson(state: AgentState): JsonObject {
  return state as unknown as JsonObject;
}
