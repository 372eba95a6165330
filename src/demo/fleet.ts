import { setMaxListeners } from 'node:events';
import type { AgentStateClient } from '../client/index.js';
import { Random, loadTextSources, proseSpan, technicalSpan, type TextSources } from '../corpus/index.js';
import type { JsonValue } from '../domain/index.js';
import { AgentStateError } from '../errors.js';

export interface FleetOptions {
  client: AgentStateClient;
  agents: number;
  /** Agent ids are `<idPrefix><n>`. @default 'demo-agent-' */
  idPrefix?: string;
  seed?: number;
  /** Mean pause between one agent's actions, ms. @default 250 */
  thinkMs?: number;
  signal: AbortSignal;
}

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
 * A simulated fleet of LLM agents: they take tasks, talk (memory grows with
 * real corpus text), call tools, fail sometimes and recover, and write every
 * step through AgentStateClient. Restarting resumes each agent from the log
 * (acquire raises its epoch).
 */
export async function runFleet(options: FleetOptions, counters: FleetCounters): Promise<void> {
  const { client, signal } = options;
  // Every agent's pause listens to the one stop signal: that is many listeners
  // by design, not a leak (Node warns past 10: MaxListenersExceededWarning).
  setMaxListeners(options.agents + 16, signal);
  const text = loadTextSources();
  const prefix = options.idPrefix ?? 'demo-agent-';
  const ids = Array.from({ length: options.agents }, (_, i) => `${prefix}${i}`);
  counters.agents = ids.length;
  for (let i = 0; i < ids.length && !signal.aborted; i += 100) {
    await Promise.all(
      ids.slice(i, i + 100).map(async (id) => {
        if (client.getState(id)) {
          await client.acquire(id);
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
  await Promise.all(ids.map((id, n) => agentLoop(id, new Random((options.seed ?? 1) * 100_003 + n), text, options, counters)));
}

async function agentLoop(id: string, rnd: Random, text: TextSources, options: FleetOptions, counters: FleetCounters): Promise<void> {
  const { client, signal } = options;
  const think = options.thinkMs ?? 250;
  while (!signal.aborted) {
    await sleep(rnd.int(think / 2, think * 1.5), signal);
    if (signal.aborted) break;
    try {
      await act(id, rnd, text, client, counters);
      counters.events++;
      const s = client.getState(id)?.state;
      if (s?.status === 'error') counters.failures++;
    } catch (err) {
      counters.writeErrors++;
      counters.lastError = err instanceof AgentStateError ? `${err.code}: ${err.message}` : String(err);
      if (err instanceof AgentStateError && err.code === 'AS_FENCED') return; // another process took it over
    }
  }
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
