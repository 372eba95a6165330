import type { AccessRecorder } from '../telemetry/access.js';
import { hostname } from 'node:os';
import {
  diff,
  applyChanges,
  elideOldValues,
  OLD_VALUE_MAX_BYTES,
  instanceId as toInstanceId,
  initialState,
  produceWithChanges,
  stateAsJson,
  type AgentState,
  type AgentStatus,
  type Change,
  type JsonObject,
  type JsonValue,
  type Projection,
  type StateEventType,
} from '../domain/index.js';
import { ClosedError, ConfigError, ConflictError, FencedError, NotFoundError } from '../errors.js';

/** Below Kafka's default message.max.bytes (1 MiB) with room for the record's key and headers. */
const DEFAULT_MAX_EVENT_BYTES = 1_000_000;
import type { EventLog } from '../log/port.js';
import { topicNames } from '../log/topics.js';
import { AppendBatcher } from './batcher.js';
import type { EventCodec } from '../codec/event-codec.js';
import { ChangesetClaimCheck, DEFAULT_CHANGESET_LIMITS, withChangesets } from '../codec/changeset-blob.js';
import { TailReader, type TailStats } from './tail.js';
import { FleetView, type WriterView } from './view.js';
import { OwnedView } from './owned-view.js';
import { ClaimFeed } from './claim-feed.js';
import { Submitter, type Submitted } from './submit.js';
import type { Heartbeat } from '../domain/heartbeat.js';
import { typed, type MigrationInfo, type ResourceRelease, type SnapshotInfo, type TaskInput, type TypedUpdate } from './typed.js';
import { updateResult } from './event-record.js';
import { tailBootstrap, type AgentStateClientOptions, type StateUpdateResult, type Update, type UpdateOptions } from './types.js';

export type { AgentStateClientOptions, StateUpdateResult, Update, UpdateOptions } from './types.js';

interface Owned {
  epoch: number;
  fenced: boolean;
  heartbeats: number;
  /** Updates of one agent run one after another (the next needs the previous head). */
  queue: Promise<unknown>;
}

/**
 * The SDK agent runtimes write their state with. Every write is an event in
 * the log; a call resolves only once the log has decided it, by the same rules
 * every replay applies (DESIGN.md Invariants 1, 3). Ownership is a claim in the
 * log (`ownership_acquired` with a higher writerEpoch); see docs/writer.md.
 */
export class AgentStateClient {
  private readonly log: EventLog;
  private readonly codec: EventCodec;
  private readonly heartbeatsTopic: string;
  private readonly nodeId: string;
  private readonly source: string;
  private readonly tail: TailReader | undefined;
  private readonly view: WriterView;
  /** Which heads this client keeps: only the agents it creates or acquires (`owned`), or every agent's (`fleet`). */
  readonly scope: 'owned' | 'fleet';
  private readonly batcher: AppendBatcher;
  private readonly submitter: Submitter;
  private readonly owned = new Map<string, Owned>();
  private readonly oldValueMaxBytes: number;
  private readonly access: AccessRecorder | undefined;
  private closed = false;

  private constructor(options: AgentStateClientOptions) {
    if (!options.log) throw new ConfigError('log', 'an EventLog is required');
    if (!options.codec) throw new ConfigError('codec', 'an EventCodec is required');
    this.log = options.log;
    const changesets = { ...DEFAULT_CHANGESET_LIMITS, ...options.changesets };
    for (const k of ['claimCheckBytes', 'maxChangesetBytes'] as const) {
      if (!Number.isSafeInteger(changesets[k]) || changesets[k] < 1) throw new ConfigError(`changesets.${k}`, 'must be a whole number of bytes, at least 1');
    }
    if (changesets.claimCheckBytes > changesets.maxChangesetBytes) throw new ConfigError('changesets.claimCheckBytes', `must not be above maxChangesetBytes (${changesets.maxChangesetBytes})`);
    // With a blob store, large changesets are claim-checked on write and resolved on read (docs/writer.md, Large changesets).
    const blobs = options.blobs ?? (options.codec instanceof ChangesetClaimCheck ? options.codec.blobs : undefined);
    this.codec = blobs ? withChangesets(options.codec, blobs, changesets) : options.codec;
    const topics = topicNames(options.topicPrefix);
    this.heartbeatsTopic = topics.heartbeats;
    this.nodeId = options.nodeId ?? `${hostname()}:${process.pid}`;
    this.access = options.access;
    const decisionTimeoutMs = options.decisionTimeoutMs ?? 60_000;
    if (!Number.isFinite(decisionTimeoutMs) || decisionTimeoutMs <= 0) throw new ConfigError('decisionTimeoutMs', 'must be a positive number of milliseconds');
    this.source = options.source ?? 'agentstate-client';
    this.batcher = new AppendBatcher(this.log, topics.events, options.lingerMs ?? 0);
    const maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
    if (!Number.isSafeInteger(maxEventBytes) || maxEventBytes < 1024) throw new ConfigError('maxEventBytes', 'must be a whole number of bytes, at least 1024');
    this.oldValueMaxBytes = options.oldValueMaxBytes ?? OLD_VALUE_MAX_BYTES;
    if (!(this.oldValueMaxBytes >= 0)) throw new ConfigError('oldValueMaxBytes', 'must be a number of bytes, 0 or more (Infinity keeps every old value)');
    const common = {
      log: this.log,
      codec: this.codec,
      topic: topics.events,
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.bootstrap === false ? {} : { bootstrap: tailBootstrap(options.topicPrefix, options.bootstrap) }),
    };
    this.scope = options.scope ?? 'owned';
    if (this.scope === 'owned') {
      const fence = (id: string, epoch: number) => this.fence(id, epoch);
      this.view = new OwnedView({ ...common, claimsTopic: topics.claims, nodeId: this.nodeId, onFenced: fence });
    } else {
      this.tail = new TailReader({
        ...common,
        onForeignAccepted: (event) => event.eventType === 'ownership_acquired' && this.fence(event.instanceId, event.writerEpoch),
      });
      const feed = new ClaimFeed(this.log, topics.claims);
      this.view = new FleetView(this.tail, (id, epoch) => feed.announce(id, epoch, this.nodeId));
    }
    this.submitter = new Submitter({ codec: this.codec, batcher: this.batcher, view: this.view, maxEventBytes, decisionTimeoutMs });
  }

  /** What connecting cost: heads taken from the state topic, event records folded, where the fold started. */
  viewStats(): TailStats {
    return this.view.stats();
  }

  /**
   * Creates a client and starts its view of the log: the scoped view (the
   * default) reads nothing until it creates or acquires an agent; the fleet
   * view (`scope: 'fleet'`) folds the events topic to the head.
   */
  static async connect(options: AgentStateClientOptions): Promise<AgentStateClient> {
    const client = new AgentStateClient(options);
    await client.tail?.open();
    return client;
  }

  /**
   * Creates an agent (version 1, `instance_created`) owned by this client at epoch 1.
   * @throws ConflictError when the agent already exists
   */
  async createAgent(id: string, init: { agentType: string } & Partial<Omit<AgentState, 'instanceId'>>): Promise<StateUpdateResult> {
    const instanceId = toInstanceId(id);
    this.assertOpen();
    const { agentType, ...overrides } = init;
    const state = stateAsJson(initialState(instanceId, agentType, Date.now(), overrides));
    await this.view.ready(instanceId);
    if (this.view.head(instanceId)) throw new ConflictError(`agent ${instanceId} already exists`);
    const owned: Owned = { epoch: 1, fenced: false, heartbeats: 0, queue: Promise.resolve() };
    const started = performance.now();
    const outcome = await this.write(instanceId, undefined, state, 1, 'instance_created', {});
    if (!outcome.accept) {
      throw new ConflictError(`agent ${instanceId} was created concurrently by another writer (${outcome.reason})`);
    }
    this.owned.set(instanceId, owned);
    return this.recorded(updateResult(undefined, outcome.projection, diff({}, state), outcome.event, started));
  }

  /**
   * Takes ownership: waits until this client's view is at the head of the log,
   * then claims the agent with epoch + 1. Any earlier owner is fenced from then on.
   * @throws NotFoundError when the agent does not exist
   */
  async acquire(id: string): Promise<{ version: number; epoch: number; state: AgentState }> {
    const instanceId = toInstanceId(id);
    this.assertOpen();
    for (let attempt = 0; attempt < 10; attempt++) {
      await this.view.ready(instanceId);
      const head = this.view.head(instanceId);
      if (!head) {
        if (!this.owned.has(instanceId)) this.view.released(instanceId);
        throw new NotFoundError(`agent ${instanceId}`);
      }
      const epoch = head.epoch + 1;
      await this.view.claiming(instanceId, epoch);
      const outcome = await this.write(instanceId, head, head.state, epoch, 'ownership_acquired', {});
      if (outcome.accept) {
        this.owned.set(instanceId, { epoch, fenced: false, heartbeats: 0, queue: Promise.resolve() });
        return { version: outcome.projection.version, epoch, state: outcome.projection.state as unknown as AgentState };
      }
      // Another writer got in first in log order: look again from the new head.
    }
    throw new ConflictError(`could not acquire ${instanceId}: other writers kept winning the claim`);
  }

  /**
   * Applies changes to an owned agent. Calls for one agent run in call order;
   * calls for different agents are appended together.
   * @throws FencedError when another writer has taken the agent over
   * @throws ConflictError when `expectedVersion` is not the head
   */
  updateState(id: string, update: Update, options: UpdateOptions = {}): Promise<StateUpdateResult> {
    const instanceId = toInstanceId(id);
    const owned = this.owned.get(instanceId);
    if (!owned) return Promise.reject(new FencedError(`this client does not own agent ${instanceId}; call acquire() first`));
    const run = owned.queue.then(() => this.applyUpdate(instanceId, owned, update, options));
    owned.queue = run.catch(() => undefined);
    return run;
  }

  private async applyUpdate(instanceId: string, owned: Owned, update: Update, options: UpdateOptions): Promise<StateUpdateResult> {
    this.assertOpen();
    const started = performance.now();
    if (owned.fenced) throw new FencedError(`agent ${instanceId} is owned by a newer writer (epoch > ${owned.epoch})`);
    // After a write with an unknown outcome: build on its record if it landed.
    await this.view.settle(instanceId);
    const head = this.view.head(instanceId);
    if (!head) throw new NotFoundError(`agent ${instanceId}`);
    if (options.expectedVersion !== undefined && options.expectedVersion !== head.version) {
      throw new ConflictError(`agent ${instanceId} is at version ${head.version}, expected ${options.expectedVersion}`);
    }
    let changes: Change[];
    let next: JsonValue;
    if (typeof update === 'function') {
      // Copy-on-write draft: no whole-state clone; the changeset is what the function touched (issue 10).
      ({ next, changes } = produceWithChanges(head.state, update as unknown as (draft: JsonValue) => unknown));
    } else {
      changes = update;
      next = applyChanges(head.state, changes);
    }
    // Large before-images stay out of the event (the projector never reads them; issue 10).
    changes = elideOldValues(changes, this.oldValueMaxBytes);
    const outcome = await this.write(instanceId, head, next, owned.epoch, options.eventType ?? 'state_patched', options, changes);
    if (!outcome.accept) {
      // A claim with a higher epoch earlier in the log fences us; our event may
      // then be rejected as stale or (same version as the claim) as a duplicate.
      if (outcome.reason === 'stale_epoch' || owned.fenced) {
        owned.fenced = true;
        throw new FencedError(`agent ${instanceId}: write rejected, a newer writer owns it`);
      }
      throw new ConflictError(`agent ${instanceId}: write rejected by the log (${outcome.reason}${outcome.detail ? `: ${outcome.detail}` : ''})`);
    }
    return this.recorded(updateResult(head, outcome.projection, changes, outcome.event, started));
  }

  /** `task_assigned`: the agent starts a task (status running). */
  taskAssigned(id: string, task: TaskInput): Promise<StateUpdateResult> {
    return this.typedUpdate(id, typed.taskAssigned(task));
  }

  /** `task_completed`: the current task moves to the history with its result. */
  taskCompleted(id: string, result?: JsonValue): Promise<StateUpdateResult> {
    return this.typedUpdate(id, typed.taskCompleted(result));
  }

  /** `task_failed`: the current task moves to the history with its error. */
  taskFailed(id: string, error: string): Promise<StateUpdateResult> {
    return this.typedUpdate(id, typed.taskFailed(error));
  }

  /** `error_occurred`: records the error; `fatal` puts the agent in status error. */
  errorOccurred(id: string, error: { message: string; code?: string; fatal?: boolean }): Promise<StateUpdateResult> {
    return this.typedUpdate(id, typed.errorOccurred(error));
  }

  /** `status_changed`. */
  statusChanged(id: string, status: AgentStatus, reason?: string): Promise<StateUpdateResult> {
    return this.typedUpdate(id, typed.statusChanged(status, reason));
  }

  /** `capability_added` (no-op changeset when already present). */
  capabilityAdded(id: string, capability: string): Promise<StateUpdateResult> {
    return this.typedUpdate(id, typed.capabilityAdded(capability));
  }

  /** `capability_removed`. */
  capabilityRemoved(id: string, capability: string): Promise<StateUpdateResult> {
    return this.typedUpdate(id, typed.capabilityRemoved(capability));
  }

  /** `configuration_updated`: shallow merge into configuration. */
  configurationUpdated(id: string, patch: JsonObject): Promise<StateUpdateResult> {
    return this.typedUpdate(id, typed.configurationUpdated(patch));
  }

  /** `resource_allocated`: shallow merge into resourceAllocation. */
  resourceAllocated(id: string, resources: Partial<AgentState['resourceAllocation']>): Promise<StateUpdateResult> {
    return this.typedUpdate(id, typed.resourceAllocated(resources));
  }

  /** `resource_deallocated`: subtracts the given amounts (floored at 0), or releases everything with `'all'`. */
  resourceDeallocated(id: string, release: ResourceRelease): Promise<StateUpdateResult> {
    return this.typedUpdate(id, typed.resourceDeallocated(release));
  }

  /** `snapshot_created`: records a snapshot taken of this agent (no state change). StateManager.createSnapshot calls it through the owner. */
  snapshotCreated(id: string, info: SnapshotInfo): Promise<StateUpdateResult> {
    return this.typedUpdate(id, typed.snapshotCreated(info));
  }

  /** `migration_started`: written by the source owner before the hand-over (status `migrating`). */
  migrationStarted(id: string, info: MigrationInfo): Promise<StateUpdateResult> {
    return this.typedUpdate(id, typed.migrationStarted(info));
  }

  /** `migration_completed`: written by the target after it acquired the agent (the previous status returns). */
  migrationCompleted(id: string, info: MigrationInfo): Promise<StateUpdateResult> {
    return this.typedUpdate(id, typed.migrationCompleted(info));
  }

  /** `memory_updated`: shallow merge into memory. */
  memoryUpdated(id: string, patch: JsonObject): Promise<StateUpdateResult> {
    return this.typedUpdate(id, typed.memoryUpdated(patch));
  }

  /** `performance_updated`: shallow merge into performance. */
  performanceUpdated(id: string, metrics: JsonObject): Promise<StateUpdateResult> {
    return this.typedUpdate(id, typed.performanceUpdated(metrics));
  }

  /** An acknowledged write, counted for the access figures when a recorder is configured. */
  private recorded(r: StateUpdateResult): StateUpdateResult {
    const e = r.generatedEvents[0];
    if (this.access && e) this.access.write(e.instanceId, r.processingTime);
    return r;
  }

  private typedUpdate(id: string, t: TypedUpdate): Promise<StateUpdateResult> {
    return this.updateState(id, t.update, t.options);
  }

  /**
   * Publishes a heartbeat of an owned agent to the compacted heartbeats topic
   * (not an event: liveness is not state history).
   * @throws FencedError when this client does not own the agent
   */
  async heartbeat(id: string, extra: { metadata?: Record<string, string>; cpuPercent?: number } = {}): Promise<Heartbeat> {
    const owned = this.owned.get(id);
    if (!owned || owned.fenced) throw new FencedError(`this client does not own agent ${id}`);
    const head = this.view.head(id);
    const hb: Heartbeat = {
      instanceId: id,
      writerEpoch: owned.epoch,
      nodeId: this.nodeId,
      timestamp: Date.now(),
      sequence: ++owned.heartbeats,
      status: (head?.state as { status?: string } | undefined)?.status ?? 'unknown',
      lastVersion: head?.version ?? 0,
      heapUsedBytes: process.memoryUsage().heapUsed,
      cpuPercent: extra.cpuPercent ?? null,
      metadata: extra.metadata ?? {},
    };
    await this.log.append(this.heartbeatsTopic, [{ key: id, value: await this.codec.encodeHeartbeat(hb), timestamp: hb.timestamp }]);
    return hb;
  }

  /** The head of an agent as this client's view of the log holds it. */
  getState(id: string): { version: number; epoch: number; checksum: string; state: AgentState } | undefined {
    const head = this.view.head(toInstanceId(id));
    return head && { version: head.version, epoch: head.epoch, checksum: head.checksum, state: head.state as unknown as AgentState };
  }

  /** True while this client owns the agent and has not been fenced. */
  owns(id: string): boolean {
    const o = this.owned.get(id);
    return o !== undefined && !o.fenced;
  }

  /** Stops writing the agent (no event: a later acquire by anyone raises the epoch). The scoped view forgets its head. */
  async release(id: string): Promise<void> {
    const owned = this.owned.get(id);
    if (!owned) return;
    await owned.queue;
    this.owned.delete(id);
    this.view.released(id);
  }

  /** Waits for writes in flight, then stops. Safe to call twice; the EventLog is the caller's. */
  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.allSettled([...this.owned.values()].map((o) => o.queue));
    this.closed = true;
    await this.batcher.flush();
    await this.view.stop();
  }

  private write(instanceId: string, head: Projection | undefined, next: JsonValue, epoch: number, eventType: StateEventType, options: UpdateOptions, changes?: Change[]): Promise<Submitted> {
    const { causationId, correlationId, metadata, replayable } = options;
    return this.submitter.submit({ instanceId, head, next, epoch, eventType, source: this.source, causationId, correlationId, metadata, replayable, changes });
  }

  /** An accepted claim with a higher epoch than ours fences us (Invariant 3). */
  private fence(instanceId: string, epoch: number): void {
    const owned = this.owned.get(instanceId);
    if (owned && epoch > owned.epoch) owned.fenced = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('the AgentStateClient');
  }
}

export type { JsonObject };
