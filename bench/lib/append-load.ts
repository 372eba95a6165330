/** Workloads of `npm run bench -- append` (bench/append.ts), shared with its writer processes (append-worker.ts). */
import type { AgentStateClient } from '../../src/client/index.js';
import type { JsonValue } from '../../src/domain/index.js';
import { Random, loadTextSources, proseSpan } from '../../src/corpus/index.js';

export interface LoadResult {
  events: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  /** Mean JSON bytes of the changesets written. */
  changeBytes: number;
}

export function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const text = loadTextSources();

/** One chat message of about `bytes` of corpus prose. */
export function message(rnd: Random, n: number, bytes = 1024): { role: string; content: string; at: number } {
  let content = '';
  while (content.length < bytes) content += `${proseSpan(text, rnd, rnd.int(2, 6))} `;
  return { role: n % 2 ? 'assistant' : 'user', content: content.slice(0, bytes), at: 1_700_000_000_000 + n };
}

/** A 20-message chat window (about 22 KB of state with the rest of the agent). */
export function chatWindow(rnd: Random, messages = 20): JsonValue[] {
  return Array.from({ length: messages }, (_, n) => message(rnd, n));
}

/**
 * Creates the agents (in slices, so 10,000 creates do not all wait at once),
 * with a chat window when `window` is set.
 */
export async function createAgents(client: AgentStateClient, ids: string[], window: boolean, seed: number): Promise<void> {
  const rnd = new Random(seed);
  for (let i = 0; i < ids.length; i += 500) {
    await Promise.all(ids.slice(i, i + 500).map((id) => client.createAgent(id, { agentType: 'assistant', ...(window ? { memory: { conversation: chatWindow(rnd) } } : {}) })));
  }
}

/**
 * Closed loop: every agent writes `perAgent` updates one after another, all
 * agents at once. Each update appends a ~1 KB message to the chat window and
 * drops the oldest once it holds 20, through a draft function (issue 10's
 * workload). The messages are made before the clock starts and the
 * changesets measured after it stops: the figure is the writer's, not the
 * corpus generator's (which cost ~15 us per update in the same process).
 */
export async function chatLoad(client: AgentStateClient, ids: string[], perAgent: number, seed: number): Promise<LoadResult> {
  const rnd = new Random(seed);
  const turns = ids.map(() => Array.from({ length: perAgent }, (_, n) => message(rnd, n)));
  const latencies: number[] = [];
  const applied: unknown[] = [];
  const t0 = performance.now();
  await Promise.all(
    ids.map(async (id, a) => {
      for (const turn of turns[a]!) {
        const r = await client.updateState(id, (draft) => {
          const convo = (draft.memory.conversation as JsonValue[] | undefined) ?? (draft.memory.conversation = []);
          convo.push(turn);
          if (convo.length > 20) convo.shift();
        });
        latencies.push(r.processingTime);
        applied.push(r.appliedChanges);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const events = ids.length * perAgent;
  const changeBytes = applied.reduce<number>((n, c) => n + JSON.stringify(c).length, 0);
  return { events, seconds, p50Ms: pct(latencies, 50), p99Ms: pct(latencies, 99), changeBytes: Math.round(changeBytes / events) };
}

/** Grows one agent's state to about `bytes` in updates of at most 400 KB (each event stays under maxEventBytes). */
export async function growState(client: AgentStateClient, id: string, bytes: number, seed: number): Promise<void> {
  const rnd = new Random(seed);
  const chunk = 400 * 1024;
  for (let done = 0, n = 0; done < bytes; done += chunk, n++) {
    const size = Math.min(chunk, bytes - done);
    const messages = Array.from({ length: Math.max(1, Math.round(size / 1024)) }, (_, i) => message(rnd, i));
    await client.updateState(id, (draft) => void (draft.memory[`archive${n}`] = messages));
  }
}
