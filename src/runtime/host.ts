import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { AgentStateClient } from '../client/client.js';
import type { AgentState } from '../domain/state.js';
import { AgentStateError, ConfigError, NotFoundError } from '../errors.js';
import type { ConsumedBatch, Consumer, EventLog, StoredRecord } from '../log/port.js';
import { topicNames } from '../log/topics.js';
import { sendToDlq } from './dlq.js';
import { HeartbeatClock } from './beat.js';
import { heartbeatKey, type ControlCommand, type HostedAgent, type NodeHeartbeat } from './types.js';
import type { AccessRecorder } from '../telemetry/access.js';
import type { RuntimeWire } from './wire.js';

/** What a hosted agent gets: its id, the writer (owned by the host), and a signal aborted when it must stop. */
export interface AgentContext {
  instanceId: string;
  client: AgentStateClient;
  /** Aborted on stop, freeze or fencing: a step in hand should finish its write and return. */
  signal: AbortSignal;
  /** The head as the writer holds it. */
  state(): AgentState;
}

/** One agent's behaviour. The host calls `step` in a loop while it owns the agent. */
export interface RuntimeAgent {
  /** One unit of work (a write or a few). It paces itself (e.g. sleeps on `ctx.signal`). */
  step(): Promise<void>;
}

export type AgentFactory = (ctx: AgentContext) => RuntimeAgent;

export interface RuntimeHostOptions {
  nodeId: string;
  /** @default os.hostname() */
  host?: string;
  dataCenter?: string;
  region?: string;
  log: EventLog;
  /** The writer; the caller owns it (never closed here). */
  client: AgentStateClient;
  wire: RuntimeWire;
  /** @default 'agentstate.' */
  topicPrefix?: string;
  /** Agent behaviours by `agentType` (AgentState.agentType). */
  factories: Record<string, AgentFactory>;
  /** @default 1000 */
  heartbeatIntervalMs?: number;
  /** How long a restarted host's control group waits for a silent member. @default 10000 */
  sessionTimeoutMs?: number;
  /**
   * Access figures to report: each heartbeat drains it into its `access`
   * field (put back when the append fails). Give the same recorder to this
   * process's writer and StateManager (docs/analytics.md, Access figures).
   */
  access?: AccessRecorder;
  /**
   * `per-agent`: a batch of control records is handed off at once, each
   * command queued behind the earlier ones for its agent only, so a start
   * never waits for other agents' acquires (a recovery's commands arrive over
   * several batches). `per-batch`: the batch's commands run together and the
   * next batch waits for them (the behaviour before 2026-12-03, kept as the
   * benchmark's baseline). A command is done once: a host restarted before it ran
   * drops it as stale, and the recovery engine retries on another host. @default 'per-agent'
   */
  commandOrder?: 'per-agent' | 'per-batch';
  /** Called when an agent stops running here, with why (stopped, fenced, failed). */
  onAgentStopped?: (instanceId: string, reason: 'stopped' | 'fenced' | 'failed', error?: unknown) => void;
  logger?: Logger;
}

interface Running {
  ctx: AgentContext;
  abort: AbortController;
  state: HostedAgent['state'];
  loop: Promise<void>;
}

export type StartResult = { ok: true; epoch: number } | { ok: false; reason: RejectReason; detail: string };

/** Why a control command was refused; goes to the DLQ as the `reason` header. */
export type RejectReason = 'unknown_agent' | 'not_hosted' | 'superseded' | 'no_factory' | 'unsupported';

/**
 * An agent runtime process's side of recovery and migration (DESIGN.md
 * Ownership): it heartbeats the agents it runs, obeys the control commands
 * addressed to its nodeId, and takes an agent over only through `acquire`
 * (epoch + 1), so a host that was presumed dead and comes back (a zombie) is
 * fenced on its next write (Invariant 3) and stops that agent.
 *
 * The hand-over primitives are `freeze` (finish the step in hand, keep
 * ownership, write nothing more) and `release`; `stop` is both. A live
 * migration reuses them: freeze on the source, start on the target.
 */
export class RuntimeHost {
  readonly nodeId: string;
  private readonly o: RuntimeHostOptions;
  private readonly topics: ReturnType<typeof topicNames>;
  private readonly running = new Map<string, Running>();
  private readonly starting = new Map<string, Promise<StartResult>>();
  /** The last command queued per agent (commandOrder 'per-agent'). */
  private readonly commands = new Map<string, Promise<void>>();
  private readonly intervalMs: number;
  private readonly startedAt = Date.now();
  private sequence = 0;
  private readonly beats: HeartbeatClock;
  private consumer: Consumer | undefined;
  private status: NodeHeartbeat['status'] = 'running';
  private closed = false;

  constructor(options: RuntimeHostOptions) {
    if (!/^[A-Za-z0-9._:-]{1,200}$/.test(options.nodeId)) throw new ConfigError('nodeId', `"${options.nodeId}" may only hold letters, digits, '.', '_', ':' and '-'`);
    this.o = options;
    this.nodeId = options.nodeId;
    this.intervalMs = options.heartbeatIntervalMs ?? 1000;
    if (!Number.isInteger(this.intervalMs) || this.intervalMs < 10) throw new ConfigError('heartbeatIntervalMs', 'must be an integer >= 10');
    this.topics = topicNames(options.topicPrefix);
    this.beats = new HeartbeatClock(this.intervalMs, (periodic) => this.heartbeat(periodic));
  }

  /** Starts heartbeating and obeying control commands. */
  async start(): Promise<void> {
    // The control group of this node: a restarted host resumes where it left
    // off, and commands issued before it started are stale (see onCommand).
    this.consumer = await this.o.log.consume({
      group: `${this.topics.control}.${this.nodeId}`,
      topics: [this.topics.control],
      fromBeginning: true,
      sessionTimeoutMs: this.o.sessionTimeoutMs ?? 10_000,
      handler: (batch) => this.onControl(batch),
    });
    this.consumer.done.catch((e: unknown) => this.o.logger?.error({ err: e }, 'control consumer stopped'));
    await this.beats.start();
  }

  /** The agents this host runs now. */
  hosted(): HostedAgent[] {
    const out: HostedAgent[] = [];
    for (const [id, r] of this.running) {
      // Only what this host still owns. A host whose view has folded a newer
      // claim (a resumed zombie, before its next write fails) would otherwise
      // list the agent at the new owner's epoch under its own name, and a
      // detector could take it for the serving owner.
      if (!this.o.client.owns(id)) continue;
      const head = this.o.client.getState(id);
      out.push({ instanceId: id, version: head?.version ?? 0, writerEpoch: head?.epoch ?? 0, state: r.state });
    }
    return out;
  }

  /**
   * Takes the agent over (epoch + 1: any earlier owner is fenced from now on),
   * with its state from the writer's view (the state topic plus the tail),
   * and runs it. A no-op when it already runs here.
   * @param expectedEpoch refuse (`superseded`) when the agent's epoch moved past it: someone else already took it over
   */
  startAgent(instanceId: string, expectedEpoch?: number): Promise<StartResult> {
    // Two starts of one agent at once (a retried command, two recovery
    // instances) share one acquire: two would run two loops on one agent here.
    let start = this.starting.get(instanceId);
    if (!start) {
      start = this.doStart(instanceId, expectedEpoch).finally(() => this.starting.delete(instanceId));
      this.starting.set(instanceId, start);
    }
    return start;
  }

  private async doStart(instanceId: string, expectedEpoch?: number): Promise<StartResult> {
    const here = this.running.get(instanceId);
    if (here && this.o.client.owns(instanceId)) return { ok: true, epoch: this.o.client.getState(instanceId)?.epoch ?? 0 };
    if (here) {
      // Fenced here while its step never returned (a stuck agent whose owner
      // the recovery fenced): that loop is dropped and the agent taken anew.
      here.abort.abort();
      this.running.delete(instanceId);
      await this.o.client.release(instanceId);
      this.o.onAgentStopped?.(instanceId, 'fenced');
    }
    const before = this.o.client.getState(instanceId);
    if (expectedEpoch !== undefined && before && before.epoch > expectedEpoch) {
      return { ok: false, reason: 'superseded', detail: `epoch is ${before.epoch}, the command expected ${expectedEpoch}` };
    }
    let acquired;
    try {
      acquired = await this.o.client.acquire(instanceId);
    } catch (e) {
      if (e instanceof NotFoundError) return { ok: false, reason: 'unknown_agent', detail: `agent ${instanceId} does not exist` };
      throw e;
    }
    // Abandoned (a crash, as tests and benchmarks make one) while acquiring: a dead process runs nothing more.
    if (this.closed) return { ok: false, reason: 'not_hosted', detail: `${this.nodeId} stopped while starting ${instanceId}` };
    const factory = this.o.factories[acquired.state.agentType];
    if (!factory) {
      await this.o.client.release(instanceId);
      return { ok: false, reason: 'no_factory', detail: `no agent factory for agentType "${acquired.state.agentType}" on ${this.nodeId}` };
    }
    const abort = new AbortController();
    const client = this.o.client;
    const ctx: AgentContext = { instanceId, client, signal: abort.signal, state: () => client.getState(instanceId)!.state };
    const entry: Running = { ctx, abort, state: 'running', loop: Promise.resolve() };
    this.running.set(instanceId, entry);
    // Its first step waits for a heartbeat that lists it: a host killed
    // between acquire and its next periodic heartbeat would otherwise leave
    // the agent owned by a dead node the recovery service never knew hosted it.
    entry.loop = this.beats.announce().then(() => this.runLoop(entry, factory(ctx)));
    this.o.logger?.info({ instanceId, epoch: acquired.epoch, version: acquired.version }, 'agent started');
    return { ok: true, epoch: acquired.epoch };
  }

  /** Hand-over, first half: the step in hand finishes, nothing more is written; ownership is kept. */
  async freezeAgent(instanceId: string): Promise<boolean> {
    const r = this.running.get(instanceId);
    if (!r) return false;
    r.state = 'frozen';
    r.abort.abort();
    await r.loop;
    return true;
  }

  /** Finishes the step in hand, flushes the writes in flight and releases the agent. */
  async stopAgent(instanceId: string): Promise<boolean> {
    const r = this.running.get(instanceId);
    if (!r) return false;
    r.state = 'stopping';
    r.abort.abort();
    await r.loop;
    await this.o.client.release(instanceId);
    this.running.delete(instanceId);
    this.o.onAgentStopped?.(instanceId, 'stopped');
    return true;
  }

  private async runLoop(r: Running, agent: RuntimeAgent): Promise<void> {
    const id = r.ctx.instanceId;
    let failures = 0;
    while (!r.abort.signal.aborted) {
      try {
        await agent.step();
        failures = 0;
      } catch (e) {
        if (e instanceof AgentStateError && e.code === 'AS_FENCED') {
          // Another host took the agent over (we were presumed dead): stop for good.
          // Unless this loop was already replaced by a new start here (see doStart).
          if (this.running.get(id) !== r) return;
          this.o.logger?.warn({ instanceId: id }, 'fenced: another host owns this agent now; stopping it here');
          this.running.delete(id);
          await this.o.client.release(id);
          this.o.onAgentStopped?.(id, 'fenced', e);
          return;
        }
        if (r.abort.signal.aborted) break;
        failures++;
        this.o.logger?.warn({ instanceId: id, err: e, failures }, 'agent step failed');
        // Back off so a failing agent does not spin (capped at 5 s).
        await new Promise((res) => setTimeout(res, Math.min(5000, 50 * 2 ** Math.min(failures, 7))));
      }
    }
  }

  private async onControl(batch: ConsumedBatch): Promise<void> {
    const work: Promise<void>[] = [];
    for (const record of batch.records) {
      let command: ControlCommand;
      try {
        command = await this.o.wire.decodeCommand(record.value);
      } catch (e) {
        // Every host sees every record, so none of them reports it (that would
        // be one DLQ entry per host): the recovery service, which reads the
        // control topic in one group, sends it to the DLQ once.
        this.o.logger?.warn({ offset: record.offset, err: e }, 'skipping a malformed control record');
        continue;
      }
      if (command.targetNode !== this.nodeId) continue;
      // A restarted host must not obey what was addressed to its previous life.
      if (command.issuedAt < this.startedAt - this.intervalMs || (command.deadline !== null && command.deadline < Date.now())) {
        this.o.logger?.info({ commandId: command.commandId, type: command.commandType }, 'ignoring a stale control command');
        continue;
      }
      if ((this.o.commandOrder ?? 'per-agent') === 'per-batch') {
        work.push(this.execute(command, record));
        continue;
      }
      const id = command.instanceId;
      const next = (this.commands.get(id) ?? Promise.resolve()).then(() => this.execute(command, record));
      this.commands.set(id, next);
      void next.finally(() => {
        if (this.commands.get(id) === next) this.commands.delete(id);
      });
    }
    await Promise.all(work);
  }

  private async execute(command: ControlCommand, record: StoredRecord): Promise<void> {
    const id = command.instanceId;
    try {
      let refused: { reason: RejectReason; detail: string } | undefined;
      if (command.commandType === 'start') {
        const expected = command.parameters.expectedEpoch === undefined ? undefined : Number(command.parameters.expectedEpoch);
        const r = await this.startAgent(id, expected);
        if (!r.ok) refused = r;
      } else if (command.commandType === 'stop' || command.commandType === 'terminate') {
        if (!(await this.stopAgent(id))) refused = { reason: 'not_hosted', detail: `agent ${id} does not run on ${this.nodeId}` };
      } else if (command.commandType === 'freeze') {
        if (!(await this.freezeAgent(id))) refused = { reason: 'not_hosted', detail: `agent ${id} does not run on ${this.nodeId}` };
      } else {
        refused = { reason: 'unsupported', detail: `${command.commandType} is not a runtime host command` };
      }
      if (refused) {
        this.o.logger?.warn({ commandId: command.commandId, instanceId: id, ...refused }, 'control command rejected');
        await this.dlq(record, refused.reason, refused.detail);
      }
    } catch (e) {
      this.o.logger?.error({ commandId: command.commandId, instanceId: id, err: e }, 'control command failed');
      await this.dlq(record, 'failed', (e as Error).message).catch(() => undefined);
    }
  }

  private dlq(record: StoredRecord, reason: string, detail: string): Promise<void> {
    return sendToDlq(this.o.log, this.topics.dlq, [{ record, reason, detail, headers: { rejectedBy: this.nodeId } }]);
  }

  /** One heartbeat (HeartbeatClock decides when): the node, its placement and load, and every agent it runs now. */
  private async heartbeat(periodic: boolean): Promise<void> {
    const access = this.o.access?.drain() ?? [];
    try {
      const h: NodeHeartbeat = {
        nodeId: this.nodeId,
        host: this.o.host ?? hostname(),
        dataCenter: this.o.dataCenter ?? null,
        region: this.o.region ?? null,
        timestamp: Date.now(),
        sequence: ++this.sequence,
        status: this.status,
        intervalMs: this.intervalMs,
        periodic,
        load: this.running.size,
        heapUsedBytes: process.memoryUsage().heapUsed,
        agents: this.hosted(),
        access,
      };
      await this.o.log.append(this.topics.heartbeats, [{ key: heartbeatKey(this.nodeId), value: await this.o.wire.encodeHeartbeat(h) }]);
    } catch (e) {
      this.o.access?.restore(access);
      if (!this.closed) this.o.logger?.warn({ err: e }, 'heartbeat failed');
    }
  }

  /**
   * What a crash looks like from outside, for tests and benchmarks: heartbeats
   * and agent loops stop at once, nothing is flushed, released or announced.
   */
  async abandon(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.beats.stop(false);
    for (const r of this.running.values()) r.abort.abort();
    this.running.clear();
    await this.consumer?.stop();
  }

  /**
   * Stops every agent (step in hand finished, writes flushed, released), sends
   * a last `stopping` heartbeat (a planned stop, not a failure) and stops.
   * Safe to call twice; the log and the client are the caller's.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.allSettled([...this.commands.values()]);
    await Promise.all([...this.running.keys()].map((id) => this.stopAgent(id)));
    this.status = 'stopping';
    await this.beats.stop(true);
    this.closed = true;
    await this.consumer?.stop();
  }
}
