import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { AgentStateClient } from '../client/client.js';
import type { EventCodec } from '../codec/event-codec.js';
import { withChangesets, type BlobSource } from '../codec/changeset-blob.js';
import { ConflictError } from '../errors.js';
import type { ConsumedBatch, Consumer, EventLog, StoredRecord } from '../log/port.js';
import { topicNames } from '../log/topics.js';
import { sendToDlq, type Refused } from '../runtime/dlq.js';
import type { RuntimeWire } from '../runtime/wire.js';
import type { FailureDetection, RecoveryPolicy, RecoveryRecordStore } from '../store/recovery-records.js';
import { NO_METRICS, type Metrics } from '../telemetry/metrics.js';
import { RecoveryEngine } from './engine.js';
import type { PhiOptions } from './phi.js';
import { DEFAULT_POLICY, policyScopes, withDefaults } from './policy.js';
import { FleetView } from './view.js';
import { EventWatch } from './watch.js';
import { DEFAULT_RECOVERY_ENGINE_OPTIONS } from './engine.js';
import { DEFAULT_TOPIC_PREFIX, recoveryGroup } from '../log/topics.js';
import { positiveInt } from '../util/options.js';

/** How long a silence verdict waits for the view to read heartbeats already appended. @default 2000 */
const MAX_VIEW_WAIT_MS = 2000;

/** A tick woken later than this was paused (a blocked event loop), and the pause is not counted as any node's silence (FleetView.localPauseMs). @default 250 */
const LOCAL_PAUSE_MS = 250;

/** Severity ranks of anomalies (schemas/Anomaly.avsc `Severity`). */
const SEVERITY = { info: 1, warning: 2, critical: 3 } as const;

export { recoveryGroup };

export interface RecoveryServiceOptions {
  log: EventLog;
  /** The events topic's codec: a restore folds an agent's history to find its restore point. */
  codec: EventCodec;
  /**
   * The deployment's blob store, to read claim-checked changesets in that
   * history (docs/writer.md, Large changesets). Without it, a restore meeting
   * one fails with AS_CONFIG naming `blobs`. @default none
   */
  blobs?: BlobSource;
  wire: RuntimeWire;
  store: RecoveryRecordStore;
  /** The log view and writer (see RecoveryEngineOptions.client); the caller owns it. */
  client: AgentStateClient;
  /** @default 'agentstate.' */
  topicPrefix?: string;
  /** @default recoveryGroup(topicPrefix) */
  group?: string;
  /** Names this instance in records. @default a random id */
  instance?: string;
  phi?: PhiOptions;
  /** How often silence is checked. @default 100 */
  tickMs?: number;
  /** @default 10000 */
  servingTimeoutMs?: number;
  /** @default 15000 */
  leaseMs?: number;
  /** @default 10000 */
  sessionTimeoutMs?: number;
  metrics?: Metrics;
  logger?: Logger;
  /** Called for each detection (tests and the demo count them). */
  onDetection?: (d: FailureDetection) => void;
}

/**
 * The recovery loop (issue 15): every instance reads all heartbeats into a
 * {@link FleetView} (silence can only be judged with every node's last
 * heartbeat, including a node that died while no instance held its
 * partition), checks it every tick with a phi-accrual detector, and hands each
 * agent of a silent host to the {@link RecoveryEngine}, whose records decide
 * which instance works on what. The group `<prefix>recovery` reads the
 * heartbeats and control topics once across instances (one active per
 * partition) to send malformed records, and commands for unknown nodes, to
 * the DLQ with a reason.
 */
export class RecoveryService {
  readonly view: FleetView;
  readonly engine: RecoveryEngine;
  readonly instance: string;
  private readonly o: ResolvedRecoveryServiceOptions;
  private readonly topics: ReturnType<typeof topicNames>;
  private readonly metrics: Metrics;
  private readonly stop = new AbortController();
  private readonly consumers: Consumer[] = [];
  private caughtUpAt: number | undefined;
  /** The view consumer's next offset per heartbeats partition. */
  private readonly viewRead = new Map<string, bigint>();
  private readonly startedAt = Date.now();
  private readonly watch: EventWatch;
  /** Stored policies by scope, refreshed every few seconds: the event watch judges every record with them. */
  private policies = new Map<string, RecoveryPolicy>();

  constructor(options: RecoveryServiceOptions) {
    this.o = resolveRecoveryServiceOptions(options);
    this.topics = topicNames(this.o.topicPrefix);
    this.instance = options.instance ?? `recovery-${randomUUID().slice(0, 8)}`;
    this.metrics = options.metrics ?? NO_METRICS;
    this.view = new FleetView(options.phi);
    // Each recovery in hand waits on this one signal: many listeners by design (a failed host may hold hundreds of agents).
    setMaxListeners(0, this.stop.signal);
    this.engine = new RecoveryEngine({
      instance: this.instance,
      store: options.store,
      view: this.view,
      log: options.log,
      wire: options.wire,
      controlTopic: this.topics.control,
      eventsTopic: this.topics.events,
      codec: options.blobs ? withChangesets(options.codec, options.blobs) : options.codec,
      client: options.client,
      metrics: this.metrics,
      signal: this.stop.signal,
      servingTimeoutMs: this.o.servingTimeoutMs,
      leaseMs: this.o.leaseMs,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    this.watch = new EventWatch(
      (id) => this.policyOf(id),
      (id) => this.view.owners.get(id)?.nodeId ?? null,
    );
  }

  /** The policy in force for an agent, from the cached stored policies (src/recovery/policy.ts resolves the same way). */
  private policyOf(instanceId: string): RecoveryPolicy {
    const agentType = this.o.client.getState(instanceId)?.state.agentType;
    for (const scope of policyScopes(instanceId, agentType)) {
      const p = this.policies.get(scope);
      if (p) return p;
    }
    return DEFAULT_POLICY;
  }

  private async refreshPolicies(): Promise<void> {
    this.policies = new Map((await this.o.store.listPolicies()).map(({ scope, policy }) => [scope, withDefaults(policy)]));
  }

  /** One detection, whatever found it: counted, told, and handed to the engine (whose records dedupe it). */
  private detected(d: FailureDetection): void {
    this.o.logger?.warn({ type: d.type, instanceId: d.instanceId, nodeId: d.nodeId, epoch: d.failedEpoch, evidence: d.evidence }, 'failure detected');
    this.o.onDetection?.(d);
    void this.engine.recover(d).catch((e: unknown) => this.o.logger?.error({ err: e, instanceId: d.instanceId }, 'recovery failed'));
  }

  /** Runs until `signal` aborts: the recoveries in hand stop where they are, and their leases lapse to another instance. */
  async run(signal: AbortSignal): Promise<void> {
    await this.refreshPolicies();
    const end = await this.o.log.endOffsets(this.topics.heartbeats);
    const pending = new Map(Object.entries(end).filter(([, off]) => off !== '0'));
    if (pending.size === 0) this.caughtUpAt = Date.now();
    this.consumers.push(
      await this.o.log.consume({
        // Private and from the beginning: the compacted topic holds every node's last heartbeat.
        group: `${recoveryGroup(this.o.topicPrefix)}.view.${this.instance}`,
        topics: [this.topics.heartbeats],
        fromBeginning: true,
        sessionTimeoutMs: this.o.sessionTimeoutMs,
        handler: async (batch) => {
          await this.onViewBatch(batch);
          const read = batch.records.at(-1);
          if (read) this.viewRead.set(String(batch.partition), BigInt(read.offset) + 1n);
          const target = pending.get(String(batch.partition));
          const last = batch.records.at(-1);
          if (target !== undefined && last && BigInt(last.offset) + 1n >= BigInt(target)) pending.delete(String(batch.partition));
          if (pending.size === 0) this.caughtUpAt ??= Date.now();
        },
      }),
    );
    try {
      this.consumers.push(
        await this.o.log.consume({
          group: this.o.group,
          // Events too: error bursts, stuck tasks and fenced writes (EventWatch), judged once per partition across instances.
          // And anomalies: the analytics consumer's findings, acted on per policy (anomalyActions).
          topics: [this.topics.heartbeats, this.topics.control, this.topics.events, this.topics.anomalies],
          fromBeginning: false,
          sessionTimeoutMs: this.o.sessionTimeoutMs,
          handler: (batch) => this.onAuditBatch(batch),
        }),
      );
    } catch (e) {
      // The embedded log runs one consumer per group: a second instance there
      // detects and recovers (its records coordinate it) but leaves the audit to the first.
      if (!(e instanceof ConflictError)) throw e;
      this.o.logger?.info({ group: this.o.group }, 'another instance holds the group (embedded log): not auditing heartbeats and commands here');
    }
    const failed = Promise.race(this.consumers.map((c) => c.done.then(() => new Promise<never>(() => undefined))));
    let adoptAt = 0;
    let behindSince: number | undefined;
    const onAbort = (): void => this.stop.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal.aborted) {
        const due = Date.now() + this.o.tickMs;
        await Promise.race([new Promise((r) => setTimeout(r, this.o.tickMs)), failed]);
        if (signal.aborted) break;
        // Woken this late: this process was paused (blocked event loop), and silence during it is not the nodes'.
        const late = Date.now() - due;
        if (late > LOCAL_PAUSE_MS) this.view.localPause(late);
        // A silence is judged only on a view that has read every heartbeat appended so far: a reader that
        // fell behind (a stalled event loop) must not take its own delay for the node's.
        // Bounded (MAX_VIEW_WAIT_MS): offsets a reader never sees (compacted away, transaction markers) must not hold detection off for good.
        const behind = this.view.suspects(Date.now()).length > 0 && (await this.viewBehind().catch(() => true));
        if (!behind) behindSince = undefined;
        else behindSince ??= Date.now();
        this.tick(Date.now(), behind && Date.now() - behindSince! < MAX_VIEW_WAIT_MS);
        if (this.caughtUpAt !== undefined && Date.now() >= adoptAt) {
          adoptAt = Date.now() + 2000;
          await this.refreshPolicies().catch((e: unknown) => this.o.logger?.warn({ err: e }, 'reading recovery policies failed'));
          await this.engine.adoptAbandoned().catch((e: unknown) => this.o.logger?.warn({ err: e }, 'checking for abandoned recoveries failed'));
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.stop.abort();
      await Promise.allSettled(this.consumers.map((c) => c.stop()));
      await Promise.allSettled([...this.engine.active.values()]);
    }
  }

  /** Whether heartbeats were appended that the view has not read yet. */
  private async viewBehind(): Promise<boolean> {
    const end = await this.o.log.endOffsets(this.topics.heartbeats);
    return Object.entries(end).some(([p, off]) => BigInt(off) > (this.viewRead.get(p) ?? 0n));
  }

  /** Judges silence. Not before the view has read the topic to its end plus one interval: a node is not dead because we have not read it yet. */
  private tick(now: number, viewBehind = false): void {
    if (this.caughtUpAt === undefined || now - this.caughtUpAt < 1500) return;
    let alive = 0;
    for (const n of this.view.nodes.values()) if (n.status === 'alive') alive++;
    this.metrics.set('agentstate_recovery_nodes_alive', alive);
    this.metrics.set('agentstate_recovery_in_progress', this.engine.active.size);
    for (const node of viewBehind ? [] : this.view.suspects(now)) {
      node.status = 'dead';
      node.deadSince = now;
      const lastAt = node.detector.lastHeartbeat() ?? now;
      const judgedAt = this.view.judgedAt(node, now);
      const phi = node.detector.phi(judgedAt);
      const agents = this.view.agentsOf(node.last.nodeId);
      const rhythm = node.detector.rhythm();
      this.o.logger?.warn({ nodeId: node.last.nodeId, silentMs: now - lastAt, phi: Number.isFinite(phi) ? phi : 'inf', agents: agents.length }, 'runtime host stopped heartbeating');
      for (const { instanceId, owner } of agents) {
        const d: FailureDetection = {
          type: 'node_silent',
          instanceId,
          nodeId: node.last.nodeId,
          failedEpoch: owner.epoch,
          detectedAt: now,
          failedAt: lastAt,
          confidence: Number.isFinite(phi) ? 1 - 10 ** -phi : 1,
          evidence: {
            silentMs: now - lastAt,
            phi: Number.isFinite(phi) ? Math.round(phi * 100) / 100 : 'inf',
            // The learned rhythm and the silence it makes suspicious: why this verdict took as long as it did.
            meanIntervalMs: Math.round(rhythm.meanMs),
            stdIntervalMs: Math.round(rhythm.stdMs),
            suspectAfterMs: node.detector.suspectAfterMs(),
            localPauseMs: now - judgedAt,
            lastSequence: node.last.sequence,
            lastSentAt: node.detector.lastSentAt() ?? node.last.timestamp,
            lastVersion: owner.version,
          },
        };
        this.detected(d);
      }
    }
    for (const d of this.watch.tick(now)) this.detected(d);
  }

  private async onViewBatch(batch: ConsumedBatch): Promise<void> {
    for (const r of batch.records) {
      try {
        const h = await this.o.wire.decodeHeartbeat(r.value);
        if (h && this.view.onHeartbeat(h, Date.now())) this.o.logger?.info({ nodeId: h.nodeId, agents: h.agents.length }, 'runtime host heartbeating again');
      } catch {
        // Reported once by the group consumer (onAuditBatch), not by every instance.
      }
    }
  }

  /**
   * An anomaly record (src/analytics/publish.ts): read from its headers
   * (anomalyType, anomalyStatus, severity, anomalyId) and key, so the
   * profile's encoding does not matter. Acted on when it is active and the
   * agent's policy names an action for its kind at or below its severity.
   */
  private onAnomaly(r: StoredRecord): FailureDetection | undefined {
    const kind = r.headers.anomalyType;
    const severity = r.headers.severity;
    if (!kind || r.headers.anomalyStatus !== 'active' || !severity || !(severity in SEVERITY)) return undefined;
    const action = this.policyOf(r.key).anomalyActions[kind];
    if (!action || SEVERITY[severity as keyof typeof SEVERITY] < SEVERITY[action.minSeverity]) return undefined;
    const owner = this.view.owners.get(r.key);
    const epoch = owner?.epoch ?? this.o.client.getState(r.key)?.epoch;
    if (epoch === undefined) return undefined;
    return {
      type: 'anomaly',
      instanceId: r.key,
      nodeId: owner?.nodeId ?? null,
      failedEpoch: epoch,
      detectedAt: Date.now(),
      failedAt: r.timestamp,
      confidence: SEVERITY[severity as keyof typeof SEVERITY] / SEVERITY.critical,
      evidence: { anomalyId: r.headers.anomalyId ?? '', kind, severity, approach: action.approach },
    };
  }

  private async onAuditBatch(batch: ConsumedBatch): Promise<void> {
    const bad: Refused[] = [];
    for (const r of batch.records) {
      if (r.topic === this.topics.events) {
        for (const d of this.watch.onRecord(r)) this.detected(d);
        continue;
      }
      if (r.topic === this.topics.anomalies) {
        const d = this.onAnomaly(r);
        if (d) this.detected(d);
        continue;
      }
      if (r.topic === this.topics.heartbeats) {
        await this.o.wire.decodeHeartbeat(r.value).catch((e: unknown) => bad.push({ record: r, reason: 'malformed_heartbeat', detail: (e as Error).message }));
        continue;
      }
      try {
        const c = await this.o.wire.decodeCommand(r.value);
        if (c.targetNode === null || (!this.view.nodes.has(c.targetNode) && r.timestamp >= this.startedAt)) {
          bad.push({ record: r, reason: 'unknown_node', detail: `no runtime host "${c.targetNode ?? ''}" has heartbeated; nobody will execute ${c.commandType} ${c.instanceId}` });
        }
      } catch (e) {
        bad.push({ record: r, reason: 'malformed_command', detail: (e as Error).message });
      }
    }
    if (bad.length === 0) return;
    this.metrics.inc('agentstate_recovery_dlq_total', {}, bad.length);
    await sendToDlq(this.o.log, this.topics.dlq, bad);
  }
}

/** Applied once at the boundary (STYLE.md habit 5); the `@default` tags say the same (test/unit/config/defaults.unit.test.ts checks). */
export const DEFAULT_RECOVERY_SERVICE_OPTIONS: Readonly<Required<Pick<RecoveryServiceOptions, 'topicPrefix' | 'tickMs' | 'servingTimeoutMs' | 'leaseMs' | 'sessionTimeoutMs'>>> = Object.freeze({
  topicPrefix: DEFAULT_TOPIC_PREFIX,
  tickMs: 100,
  ...DEFAULT_RECOVERY_ENGINE_OPTIONS,
  sessionTimeoutMs: 10_000,
});

export type ResolvedRecoveryServiceOptions = RecoveryServiceOptions & typeof DEFAULT_RECOVERY_SERVICE_OPTIONS & { group: string };

/** @throws ConfigError naming the field */
export function resolveRecoveryServiceOptions(o: RecoveryServiceOptions): ResolvedRecoveryServiceOptions {
  const r = { ...DEFAULT_RECOVERY_SERVICE_OPTIONS, ...o };
  for (const field of ['tickMs', 'servingTimeoutMs', 'leaseMs', 'sessionTimeoutMs'] as const) positiveInt(r[field], field);
  return { ...r, group: o.group ?? recoveryGroup(r.topicPrefix) };
}
