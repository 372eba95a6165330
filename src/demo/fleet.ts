import type { AgentStateClient } from '../client/index.js';
import { proseSpan, technicalSpan, type Random, type TextSources } from '../corpus/index.js';
import type { JsonValue } from '../domain/index.js';

/** Live counters of a fleet run (what the progress view and the summary print). */
export interface FleetCounters {
  agents: number;
  created: number;
  resumed: number;
  events: number;
  tasksCompleted: number;
  failures: number;
  writeErrors: number;
  lastError?: string;
}

const TOOLS = ['web_search', 'read_file', 'run_sql', 'call_api', 'summarize'];

/**
 * The fleet's agents `<prefix>0..n-1`: created when the log lacks them (one
 * `agent_created` event each, counted), else counted as resumed (a runtime
 * host's start claims it: epoch + 1). In batches of 100.
 */
export async function ensureAgents(client: AgentStateClient, agents: number, prefix: string, counters: FleetCounters, signal: AbortSignal): Promise<string[]> {
  const ids = Array.from({ length: agents }, (_, i) => `${prefix}${i}`);
  counters.agents = ids.length;
  for (let i = 0; i < ids.length && !signal.aborted; i += 100) {
    await Promise.all(
      ids.slice(i, i + 100).map(async (id) => {
        if (client.getState(id)) {
          counters.resumed++;
        } else {
          const researcher = Number(id.slice(prefix.length)) % 3 === 0;
          await client.createAgent(id, {
            agentType: researcher ? 'researcher' : 'assistant',
            status: 'idle',
            capabilities: researcher ? ['web-search', 'summarize', 'run-sql'] : ['chat', 'summarize'],
            resourceAllocation: { cpuCores: researcher ? 2 : 1, memoryMb: researcher ? 4096 : 1024, gpuCount: researcher ? 1 : 0 },
          });
          counters.created++;
          counters.events++;
        }
      }),
    );
  }
  return ids;
}

/** One step of one agent, chosen by its current status. */
export async function act(id: string, rnd: Random, text: TextSources, client: AgentStateClient, counters: FleetCounters): Promise<void> {
  const state = client.getState(id)!.state;
  const now = Date.now();
  if (state.status === 'error') {
    await client.updateState(id, (d) => void (d.status = 'idle'), { eventType: 'status_changed', metadata: { reason: 'recovered' } });
    return;
  }
  const task = state.executionState.currentTask;
  if (!task) {
    const taskId = `t-${now.toString(36)}-${rnd.int(0, 1e6)}`;
    await client.updateState(
      id,
      (d) => {
        d.status = 'running';
        d.executionState.currentTask = {
          taskId,
          type: rnd.pick(['answer', 'research', 'plan', 'code']),
          status: 'running',
          startedAt: now,
          completedAt: null,
          input: { prompt: proseSpan(text, rnd, 1).slice(0, 160) },
          result: null,
          error: null,
        };
      },
      { eventType: 'task_assigned' },
    );
    return;
  }
  const roll = rnd.next();
  if (roll < 0.05) {
    await client.updateState(
      id,
      (d) => {
        d.status = 'error';
        d.executionState.currentTask = null;
        d.executionState.taskHistory = [...d.executionState.taskHistory, { ...task, status: 'failed' as const, completedAt: now, error: 'tool timeout' }].slice(-50);
        d.performance.failures = ((d.performance.failures as number | undefined) ?? 0) + 1;
        d.performance.errorRate = errorRate(d.performance);
      },
      { eventType: 'error_occurred', metadata: { error: 'tool timeout' } },
    );
  } else if (roll < 0.25) {
    await client.updateState(
      id,
      (d) => {
        d.status = 'idle';
        d.executionState.currentTask = null;
        d.executionState.taskHistory = [...d.executionState.taskHistory, { ...task, status: 'completed' as const, completedAt: now, result: { summary: proseSpan(text, rnd, 1).slice(0, 200) } }].slice(-50);
        d.performance.tasksCompleted = ((d.performance.tasksCompleted as number | undefined) ?? 0) + 1;
        d.performance.errorRate = errorRate(d.performance);
        d.performance.taskCompletionRate = Math.round((1 - (d.performance.errorRate as number)) * 1000) / 1000;
      },
      { eventType: 'task_completed' },
    );
    counters.tasksCompleted++;
  } else if (roll < 0.5) {
    const tool = rnd.pick(TOOLS);
    await client.updateState(
      id,
      (d) => {
        const calls = ((d.memory.toolCalls as JsonValue[] | undefined) ?? []).slice(-30);
        calls.push({ tool, arguments: { query: proseSpan(text, rnd, 1).slice(0, 80) }, result: technicalSpan(text, rnd, 1).slice(0, 600), at: now });
        d.memory.toolCalls = calls;
      },
      { eventType: 'memory_updated' },
    );
  } else {
    await client.updateState(
      id,
      (d) => {
        const convo = ((d.memory.conversation as JsonValue[] | undefined) ?? []).slice(-40);
        convo.push({ role: rnd.chance(0.5) ? 'user' : 'assistant', content: proseSpan(text, rnd, rnd.int(1, 5)), at: now });
        d.memory.conversation = convo;
      },
      { eventType: 'memory_updated' },
    );
  }
}

/** The seed's performance.errorRate: failed tasks over finished ones, 3 decimals. */
function errorRate(p: Record<string, JsonValue>): number {
  const failed = (p.failures as number | undefined) ?? 0;
  const done = (p.tasksCompleted as number | undefined) ?? 0;
  return failed + done === 0 ? 0 : Math.round((failed / (failed + done)) * 1000) / 1000;
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
