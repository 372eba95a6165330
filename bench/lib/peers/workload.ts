/**
 * The one workload of `npm run bench -- peers`: each agent holds a chat
 * window of WINDOW messages of ~1 KB of real prose (src/corpus, about 22 KB
 * of JSON); each update appends a new message, drops the oldest, bumps a
 * counter and flips the status. Updates are a pure function of (agent,
 * counter), so the driver knows every agent's expected state without reading
 * anything back.
 */
import { canonicalJson, type JsonValue } from '../../../src/domain/index.js';
import { loadTextSources, proseSpan, Random, type TextSources } from '../../../src/corpus/index.js';

export const WINDOW = 20;

export interface ChatMessage {
  role: 'user' | 'assistant';
  turn: number;
  text: string;
}

/** What every system stores per agent (agentstate keeps it under `memory`, plus `status`). */
export interface ChatState {
  messages: ChatMessage[];
  counter: number;
  status: 'running' | 'idle';
}

/** One update: the message appended (the oldest is dropped), the new counter and status. */
export interface ChatUpdate {
  message: ChatMessage;
  counter: number;
  status: ChatState['status'];
}

let text: TextSources | undefined;

/** Message `turn` of an agent: ~1 KB of prose, deterministic. */
export function messageOf(agent: number, turn: number): ChatMessage {
  text ??= loadTextSources();
  const rnd = new Random(agent * 1_000_003 + turn);
  return { role: turn % 2 ? 'assistant' : 'user', turn, text: proseSpan(text, rnd, 10, 1000).padEnd(900, ' ...') };
}

/** The state before any update: turns -WINDOW..-1. */
export function initialChat(agent: number): ChatState {
  return { messages: Array.from({ length: WINDOW }, (_, i) => messageOf(agent, i - WINDOW)), counter: 0, status: 'running' };
}

/** Update number `counter` (1, 2, ...) of an agent. */
export function updateOf(agent: number, counter: number): ChatUpdate {
  return { message: messageOf(agent, counter - 1), counter, status: counter % 2 ? 'idle' : 'running' };
}

/** The state after `u`. */
export function applyUpdate(s: ChatState, u: ChatUpdate): ChatState {
  return { messages: [...s.messages.slice(1), u.message], counter: u.counter, status: u.status };
}

/** The expected state after `updates` updates, computed from the start. */
export function expectedChat(agent: number, updates: number): ChatState {
  const start = Math.max(0, updates - WINDOW);
  const s = initialChat(agent);
  const messages = updates <= WINDOW ? s.messages.slice(updates) : [];
  for (let c = start + 1; c <= updates; c++) messages.push(updateOf(agent, c).message);
  return updates === 0 ? s : { messages, counter: updates, status: updateOf(agent, updates).status };
}

/** Differences between a stored state and the expected one (empty when equal). */
export function compareChat(got: ChatState | undefined, want: ChatState): string | undefined {
  if (!got) return 'missing';
  if (got.counter !== want.counter) return `counter ${got.counter}, expected ${want.counter}`;
  if (got.status !== want.status) return `status ${got.status}, expected ${want.status}`;
  // Key order is not content: agentstate stores canonical JSON and PostgreSQL's jsonb reorders keys.
  if (canonicalJson(got.messages as unknown as JsonValue) !== canonicalJson(want.messages as unknown as JsonValue)) return 'messages differ';
  return undefined;
}
