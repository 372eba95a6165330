import { Random, loadTextSources, proseSpan, technicalSpan, type TextSources } from '../corpus/index.js';
import { checksum, diff, initialState, produceWithChanges, stateAsJson, type JsonObject, type JsonValue, type StateEvent, type StateEventType } from '../domain/index.js';

/** The faults a scenario injects, by the anomaly type a detector must flag for each. */
export const INJECTED_FAULTS = ['loop', 'runaway_growth', 'error_burst', 'status_flapping', 'velocity_stall', 'velocity_spike', 'stuck_task', 'fencing_storm'] as const;
export type InjectedFault = (typeof INJECTED_FAULTS)[number];

export interface FaultScenarioOptions {
  /** Healthy agents. @default 24 */
  healthy?: number;
  /** Agents per fault type. @default 2 */
  perFault?: number;
  /** Which faults. @default the five of issue 16: loop, runaway_growth, error_burst, status_flapping, velocity_stall */
  faults?: readonly InjectedFault[];
  /** Log time the run covers, ms. @default 90000 */
  durationMs?: number;
  /** Faults start at a random time in [faultFromMs, faultToMs] after the start. @default 40000, 60000 */
  faultFromMs?: number;
  faultToMs?: number;
  /** Mean gap between one agent's events, ms (the fleet's --think-ms). @default 250 */
  thinkMs?: number;
  /** @default 1 */
  seed?: number;
  /** Log time of the first event. @default 1767225600000 (2026-01-01) */
  startAt?: number;
  /** @default 'fault-agent-' */
  idPrefix?: string;
}

/**
 * Thresholds a scenario run is judged with: the defaults, but a task counts
 * as stuck after 6 s instead of 5 min (a scenario lasts 90 s; a healthy
 * task lasts ~1 s there).
 */
export const SCENARIO_THRESHOLDS = { stuckTaskMs: 6000 } as const;

/** The ground truth: which agent got which fault, from when (log time). */
export interface FaultLabel {
  instanceId: string;
  fault: InjectedFault | null;
  startsAt: number | null;
}

export interface FaultScenario {
  /** Every agent's events, each agent's in version order, all in timestamp order. */
  events: StateEvent[];
  labels: FaultLabel[];
  startAt: number;
  endAt: number;
}

/**
 * A labelled, seeded, reproducible fleet with injected faults (issue 16):
 * healthy agents behave like the demo fleet (tasks, tool calls, conversation,
 * the odd error), faulty ones switch to their fault at a random time. Events
 * are built with the domain (real changesets, checksums, versions, epochs) on
 * a simulated clock, so the same options always give the same log.
 */
export function buildFaultScenario(options: FaultScenarioOptions = {}): FaultScenario {
  const o = {
    healthy: options.healthy ?? 24,
    perFault: options.perFault ?? 2,
    faults: options.faults ?? (['loop', 'runaway_growth', 'error_burst', 'status_flapping', 'velocity_stall'] as const),
    durationMs: options.durationMs ?? 90_000,
    faultFromMs: options.faultFromMs ?? 40_000,
    faultToMs: options.faultToMs ?? 60_000,
    thinkMs: options.thinkMs ?? 250,
    seed: options.seed ?? 1,
    startAt: options.startAt ?? 1_767_225_600_000,
    idPrefix: options.idPrefix ?? 'fault-agent-',
  };
  const text = loadTextSources();
  const plan = new Random(o.seed);
  const labels: FaultLabel[] = [];
  let n = 0;
  for (let i = 0; i < o.healthy; i++) labels.push({ instanceId: `${o.idPrefix}${n++}`, fault: null, startsAt: null });
  for (const fault of o.faults) {
    for (let i = 0; i < o.perFault; i++) labels.push({ instanceId: `${o.idPrefix}${n++}`, fault, startsAt: o.startAt + plan.int(o.faultFromMs, o.faultToMs) });
  }
  // Shuffle so faulty agents spread over partitions and ids say nothing.
  for (let i = labels.length - 1; i > 0; i--) {
    const j = plan.int(0, i);
    [labels[i], labels[j]] = [labels[j]!, labels[i]!];
  }
  labels.forEach((l, i) => (l.instanceId = `${o.idPrefix}${i}`));
  const events: StateEvent[] = [];
  labels.forEach((label, i) => events.push(...agentEvents(label, new Random(o.seed * 100_003 + i), text, o)));
  events.sort((a, b) => a.timestamp - b.timestamp || (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : a.version - b.version));
  return { events, labels, startAt: o.startAt, endAt: o.startAt + o.durationMs };
}

type Recipe = (d: Record<string, JsonValue> & { memory: JsonObject; performance: JsonObject; executionState: JsonObject & { processState: JsonObject } }) => void;

interface Writer {
  id: string;
  state: JsonValue;
  version: number;
  epoch: number;
  out: StateEvent[];
  seq: number;
}

function write(w: Writer, at: number, eventType: StateEventType, recipe: Recipe, metadata: Record<string, string> = {}, epoch = w.epoch): void {
  const { next, changes } = produceWithChanges(w.state as JsonObject, recipe as (d: JsonObject) => void);
  w.version++;
  w.state = next;
  if (eventType === 'ownership_acquired') w.epoch = epoch;
  w.out.push(event(w, at, eventType, changes, metadata, checksum(next), epoch));
}

/** The agent fails its current task with `error` (status error, the task dropped, one more failure). */
function fail(w: Writer, at: number, error: string): void {
  write(
    w,
    at,
    'error_occurred',
    (d) => {
      d.status = 'error';
      d.executionState.currentTask = null;
      d.performance.failures = ((d.performance.failures as number | undefined) ?? 0) + 1;
    },
    { error },
  );
}

function event(w: Writer, at: number, eventType: StateEventType, changeset: StateEvent['changeset'], metadata: Record<string, string>, sum: string, epoch: number): StateEvent {
  return {
    eventId: `${w.id}-${++w.seq}`,
    instanceId: w.id as StateEvent['instanceId'],
    version: w.version as StateEvent['version'],
    writerEpoch: epoch as StateEvent['writerEpoch'],
    timestamp: at,
    eventType,
    source: 'fault-scenario',
    causationId: null,
    correlationId: null,
    changeset,
    metadata,
    stateChecksum: sum,
    replay: null,
    replayable: true,
  };
}

function agentEvents(label: FaultLabel, rnd: Random, text: TextSources, o: Required<FaultScenarioOptions>): StateEvent[] {
  const w: Writer = { id: label.instanceId, state: {}, version: 0, epoch: 1, out: [], seq: 0 };
  const researcher = rnd.chance(0.34);
  let at = o.startAt + rnd.int(0, o.thinkMs * 4);
  const init = stateAsJson(initialState(w.id as never, researcher ? 'researcher' : 'assistant', at, { status: 'idle' }));
  w.version = 1;
  w.state = init;
  w.out.push(event(w, at, 'instance_created', diff({}, init), {}, checksum(init), 1));
  const end = o.startAt + o.durationMs;
  let step = 0;
  while (true) {
    const faulty = label.startsAt !== null && at >= label.startsAt;
    const think = faulty && label.fault === 'velocity_spike' ? o.thinkMs / 12 : o.thinkMs;
    at += rnd.int(Math.floor(think / 2), Math.ceil(think * 1.5));
    if (at >= end) break;
    step++;
    if (!faulty) healthyStep(w, at, rnd, text);
    else if (label.fault === 'velocity_stall')
      break; // silent from here on
    else faultStep(label.fault!, w, at, step, rnd, text);
  }
  return w.out;
}

function healthyStep(w: Writer, at: number, rnd: Random, text: TextSources): void {
  const s = w.state as { status: string; executionState: { currentTask: JsonObject | null } };
  if (s.status === 'error') return write(w, at, 'status_changed', (d) => void (d.status = 'idle'), { reason: 'recovered' });
  const task = s.executionState.currentTask;
  if (!task) {
    return write(w, at, 'task_assigned', (d) => {
      d.status = 'running';
      d.executionState.currentTask = {
        taskId: `t-${at.toString(36)}-${rnd.int(0, 1e6)}`,
        type: rnd.pick(['answer', 'research', 'plan', 'code']),
        status: 'running',
        startedAt: at,
        input: { prompt: proseSpan(text, rnd, 1).slice(0, 160) },
      };
    });
  }
  // Healthy tasks finish within 4 s (a deadline), so only a stuck one stays open past SCENARIO_THRESHOLDS.stuckTaskMs.
  const roll = at - (task.startedAt as number) > 4000 ? 0.2 : rnd.next();
  if (roll < 0.05) {
    fail(w, at, 'tool timeout');
  } else if (roll < 0.25) {
    write(w, at, 'task_completed', (d) => {
      d.status = 'idle';
      d.executionState.currentTask = null;
      d.performance.tasksCompleted = ((d.performance.tasksCompleted as number | undefined) ?? 0) + 1;
      d.memory.lastResult = proseSpan(text, rnd, 1).slice(0, 200);
    });
  } else if (roll < 0.5) {
    write(w, at, 'memory_updated', (d) => {
      const calls = ((d.memory.toolCalls as JsonValue[] | undefined) ?? []).slice(-30);
      calls.push({ tool: rnd.pick(TOOLS), arguments: { query: proseSpan(text, rnd, 1).slice(0, 80) }, result: technicalSpan(text, rnd, 1).slice(0, 600), at });
      d.memory.toolCalls = calls;
    });
  } else {
    write(w, at, 'memory_updated', (d) => {
      const convo = ((d.memory.conversation as JsonValue[] | undefined) ?? []).slice(-40);
      convo.push({ role: rnd.chance(0.5) ? 'user' : 'assistant', content: proseSpan(text, rnd, rnd.int(1, 3)).slice(0, 800), at });
      d.memory.conversation = convo;
    });
  }
}

const TOOLS = ['web_search', 'read_file', 'run_sql', 'call_api', 'summarize'];

function faultStep(fault: InjectedFault, w: Writer, at: number, step: number, rnd: Random, text: TextSources): void {
  switch (fault) {
    case 'loop':
      // Half the loopers repeat one tool call; the other half bounce between two plans (A→B→A→B).
      if (w.id.charCodeAt(w.id.length - 1) % 2 === 0) {
        return write(w, at, 'memory_updated', (d) => {
          d.memory.loopCalls ??= [];
          (d.memory.loopCalls as JsonValue[]).push({ tool: 'web_search', arguments: { query: 'latest status of the task' } });
        });
      }
      return write(w, at, 'memory_updated', (d) => void (d.memory.plan = step % 2 === 0 ? 'retry the search' : 'search again'));
    case 'runaway_growth':
      return write(w, at, 'memory_updated', (d) => {
        d.memory.leak ??= [];
        (d.memory.leak as JsonValue[]).push(proseSpan(text, rnd, 12).slice(0, 4000).padEnd(2500, '.'));
      });
    case 'error_burst':
      if ((w.state as { status: string }).status === 'error') return write(w, at, 'status_changed', (d) => void (d.status = 'idle'), { reason: 'recovered' });
      return fail(w, at, 'rate limited');
    case 'status_flapping':
      return write(
        w,
        at,
        'status_changed',
        (d) => {
          d.status = d.status === 'paused' ? 'running' : 'paused';
          d.executionState.processState.statusSince = at;
        },
        { reason: 'health check' },
      );
    case 'velocity_spike':
      return healthyStep(w, at, rnd, text);
    case 'stuck_task':
      if (!(w.state as { executionState: { currentTask: unknown } }).executionState.currentTask) return healthyStep(w, at, rnd, text);
      return write(w, at, 'memory_updated', (d) => void (d.memory.waiting = `still waiting on the tool (${step})`));
    case 'fencing_storm':
      // Two runtimes take the agent from each other in turn.
      return write(
        w,
        at,
        'ownership_acquired',
        (d) => {
          d.executionState.processState.owner = `host-${w.epoch % 2}`;
          d.executionState.processState.acquiredAt = at;
        },
        {},
        w.epoch + 1,
      );
    case 'velocity_stall':
      return;
  }
}
