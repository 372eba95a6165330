import { instanceId as brandId } from '../domain/ids.js';
import type { JsonObject, JsonValue } from '../domain/json.js';
import { initialState, type AgentState, type TaskRecord } from '../domain/state.js';
import { Random } from './random.js';
import { loadTextSources, proseSpan, technicalSpan, type TextSources } from './text.js';

/** Named state sizes used by tests and benchmarks (canonical JSON bytes, approximate lower bound). */
export const SIZE_CLASSES = {
  '1KB': 1024,
  '10KB': 10 * 1024,
  '100KB': 100 * 1024,
  '1MB': 1024 * 1024,
  '10MB': 10 * 1024 * 1024,
  '50MB': 50 * 1024 * 1024,
} as const;
/** One of the keys of {@link SIZE_CLASSES}. */
export type SizeClass = keyof typeof SIZE_CLASSES;

/** Options of {@link generateState}. */
export interface CorpusOptions {
  /** Same seed, same state, byte for byte. */
  seed: number;
  /** Grow the state until its JSON is at least this many bytes. */
  targetBytes: number;
  /** @default `agent-<seed>` */
  instanceId?: string;
}

const BASE_TIME = 1_760_000_000_000;
const TOOLS = ['search_docs', 'read_file', 'http_get', 'run_sql', 'python', 'write_file', 'calendar_lookup'] as const;
const MODELS = ['gpt-4o-2024-08-06', 'claude-3-5-sonnet-20241022', 'llama-3.1-70b-instruct'] as const;

/** UTF-8 bytes of a value's JSON: the size measure of the size classes. */
function json(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

function embedding(rnd: Random, dims: number): number[] {
  const raw = Array.from({ length: dims }, () => rnd.gaussian());
  const norm = Math.sqrt(raw.reduce((s, x) => s + x * x, 0)) || 1;
  // float32 precision, as embedding APIs return it.
  return raw.map((x) => Number(Math.fround(x / norm).toPrecision(9)));
}

function toolCall(text: TextSources, rnd: Random, at: number, maxChars: number): JsonObject {
  const tool = rnd.pick(TOOLS);
  const query = Array.from({ length: rnd.int(2, 6) }, () => rnd.pick(text.words)).join(' ');
  let args: JsonObject;
  let result: JsonValue;
  switch (tool) {
    case 'search_docs':
      args = { query, topK: rnd.int(3, 10), filters: { source: rnd.pick(['docs', 'wiki', 'tickets']) } };
      result = Array.from({ length: rnd.int(2, 5) }, () => ({
        docId: rnd.uuid(),
        score: Number(rnd.next().toFixed(4)),
        snippet: technicalSpan(text, rnd, 1).slice(0, maxChars),
      }));
      break;
    case 'read_file':
      args = { path: `/workspace/${rnd.pick(text.words)}/${rnd.pick(text.words)}.md`, encoding: 'utf8' };
      result = { content: technicalSpan(text, rnd, rnd.int(1, 4)).slice(0, maxChars), bytes: rnd.int(200, 9000) };
      break;
    case 'http_get':
      args = { url: `https://example.org/${rnd.pick(text.words)}?q=${encodeURIComponent(query)}`, timeoutMs: 10_000 };
      result = { status: rnd.pick([200, 200, 200, 404, 503]), headers: { 'content-type': 'text/html' }, body: proseSpan(text, rnd, rnd.int(2, 8), maxChars) };
      break;
    case 'run_sql':
      args = { sql: `SELECT id, name, amount FROM ${rnd.pick(text.words)} WHERE name LIKE '%${rnd.pick(text.words)}%' LIMIT 20` };
      result = {
        columns: ['id', 'name', 'amount'],
        rows: Array.from({ length: rnd.int(1, 12) }, () => [rnd.int(1, 99_999), rnd.pick(text.words), Number((rnd.next() * 1000).toFixed(2))]),
      };
      break;
    case 'python':
      args = { code: `import statistics\nvalues = [${Array.from({ length: 6 }, () => rnd.int(1, 500)).join(', ')}]\nprint(statistics.mean(values))` };
      result = { stdout: String(Number((rnd.next() * 300).toFixed(3))), stderr: '', exitCode: 0 };
      break;
    case 'write_file':
      args = { path: `/workspace/notes/${rnd.pick(text.words)}.md`, content: proseSpan(text, rnd, rnd.int(2, 6), maxChars) };
      result = { ok: true };
      break;
    default:
      args = { from: new Date(at).toISOString(), days: rnd.int(1, 14) };
      result = { events: Array.from({ length: rnd.int(0, 4) }, () => ({ title: proseSpan(text, rnd, 1, maxChars).slice(0, 60), start: new Date(at + rnd.int(1, 9) * 3_600_000).toISOString() })) };
  }
  const failed = rnd.chance(0.05);
  return {
    id: `call_${rnd.uuid().replace(/-/g, '').slice(0, 24)}`,
    tool,
    arguments: args,
    result: failed ? null : result,
    error: failed ? 'ToolTimeoutError: no response within 10000 ms' : null,
    startedAt: at,
    durationMs: rnd.int(20, 4000),
  };
}

function task(text: TextSources, rnd: Random, at: number, maxChars: number): TaskRecord {
  const status = rnd.pick(['completed', 'completed', 'completed', 'failed', 'cancelled'] as const);
  return {
    taskId: rnd.uuid(),
    type: rnd.pick(['research', 'summarize', 'code_review', 'data_analysis', 'email_draft']),
    status,
    startedAt: at,
    completedAt: at + rnd.int(1_000, 600_000),
    input: { instruction: proseSpan(text, rnd, rnd.int(1, 3), maxChars), priority: rnd.int(1, 5) },
    result: status === 'completed' ? { summary: proseSpan(text, rnd, rnd.int(2, 6), maxChars), tokensUsed: rnd.int(300, 9000) } : null,
    error: status === 'failed' ? `RateLimitError: 429 from upstream after ${rnd.int(1, 5)} retries` : null,
  };
}

/**
 * A realistic LLM-agent state of about `targetBytes` of JSON: conversation
 * memory in natural language, tool calls with JSON arguments and results, task
 * history, metrics and one or two embedding vectors. Seeded and reproducible.
 */
export function generateState(options: CorpusOptions): AgentState {
  const rnd = new Random(options.seed);
  const text = loadTextSources();
  // Small states get short turns, or one long sentence would overshoot the size class.
  const maxChars = Math.max(160, Math.floor(options.targetBytes / 6));
  const id = brandId(options.instanceId ?? `agent-${options.seed}`);
  const model = rnd.pick(MODELS);
  const state = initialState(id, 'assistant', BASE_TIME, {
    status: 'running',
    configuration: {
      model,
      temperature: Number((rnd.next() * 1.2).toFixed(2)),
      maxTokens: rnd.pick([1024, 4096, 8192]),
      systemPrompt: proseSpan(text, rnd, options.targetBytes < 4096 ? 1 : 3, maxChars),
      ...(options.targetBytes < 4096 ? {} : { tools: [...TOOLS] }),
    },
    capabilities: ['chat', 'tool_use', ...(rnd.chance(0.5) ? ['code_execution'] : []), 'retrieval'],
    resourceAllocation: { cpuCores: rnd.pick([0.5, 1, 2]), memoryMb: rnd.pick([512, 1024, 2048]), gpuCount: 0 },
  });
  const conversation: JsonObject[] = [];
  const toolCalls: JsonObject[] = [];
  const series: JsonObject[] = [];
  const vectors: JsonObject[] = [];
  const memory: JsonObject = { conversation, toolCalls, facts: {}, embeddings: { model: 'text-embedding-3-small', vectors } };
  state.memory = memory;
  const perf = { requests: 0, errors: 0, tokensIn: 0, tokensOut: 0, latencyMs: { p50: 0, p95: 0, p99: 0 }, series };
  state.performance = perf;

  let size = json(state);
  const dims = options.targetBytes < 4096 ? 0 : options.targetBytes < 64 * 1024 ? 256 : 1536;
  for (let i = 0; dims > 0 && i < (options.targetBytes >= 1024 * 1024 ? 2 : 1); i++) {
    const v = { id: rnd.uuid(), source: 'conversation-summary', values: embedding(rnd, dims) };
    vectors.push(v);
    size += json(v) + 1;
  }

  let now = BASE_TIME;
  let turn = 0;
  if (options.targetBytes >= 8192) {
    state.executionState.currentTask = { ...task(text, rnd, now, maxChars), status: 'running', completedAt: null, result: null, error: null };
    size = json(state);
  }
  // The running estimate can undershoot by a few bytes (percentiles and usage are filled in last): re-measure and go on.
  do {
    while (size < options.targetBytes) {
      now += rnd.int(2_000, 90_000);
      turn++;
      const user = { id: `msg_${turn}_u`, role: 'user', content: proseSpan(text, rnd, rnd.int(1, 4), maxChars), createdAt: now, tokenCount: rnd.int(10, 200) };
      const assistant = {
        id: `msg_${turn}_a`,
        role: 'assistant',
        content: rnd.chance(0.4) ? technicalSpan(text, rnd, rnd.int(1, 3)).slice(0, maxChars) : proseSpan(text, rnd, rnd.int(2, 9), maxChars),
        createdAt: now + rnd.int(500, 20_000),
        tokenCount: rnd.int(50, 900),
      };
      conversation.push(user, assistant);
      size += json(user) + json(assistant) + 2;
      perf.requests++;
      perf.tokensIn += user.tokenCount;
      perf.tokensOut += assistant.tokenCount;
      if (rnd.chance(0.5)) {
        const call = toolCall(text, rnd, now, maxChars);
        toolCalls.push(call);
        size += json(call) + 1;
        if (call.error !== null) perf.errors++;
      }
      if (rnd.chance(0.2)) {
        const t = task(text, rnd, now, maxChars);
        state.executionState.taskHistory.push(t);
        size += json(t) + 1;
      }
      if (rnd.chance(0.3)) {
        const sample = { t: now, latencyMs: rnd.int(120, 9000), tokens: rnd.int(100, 4000), cacheHitRate: Number(rnd.next().toFixed(3)) };
        series.push(sample);
        size += json(sample) + 1;
      }
      if (rnd.chance(0.05)) {
        const key = rnd.pick(text.words);
        (memory.facts as JsonObject)[key] = proseSpan(text, rnd, 1, maxChars);
        size += key.length + 200;
      }
    }
    finish(state, perf, series, size);
    size = json(state);
  } while (size < options.targetBytes);
  return state;
}

function finish(state: AgentState, perf: { latencyMs: JsonObject }, series: JsonObject[], size: number): void {
  const latencies = series.map((s) => s.latencyMs as number).sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  perf.latencyMs = { p50: q(0.5), p95: q(0.95), p99: q(0.99) };
  state.executionState.memoryUsage = { heapUsedBytes: size * 3, rssBytes: size * 5 + 50_000_000 };
}

/** One state per size class, seeds derived from `seed` so classes differ in content. */
export function generateCorpus(seed: number, classes: readonly SizeClass[]): { sizeClass: SizeClass; state: AgentState }[] {
  return classes.map((sizeClass, i) => ({ sizeClass, state: generateState({ seed: seed * 101 + i, targetBytes: SIZE_CLASSES[sizeClass] }) }));
}
