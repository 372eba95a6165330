import type { Logger } from 'pino';
import type { AgentStateClient } from '../client/client.js';
import type { EventCodec } from '../codec/event-codec.js';
import { checksumFromScratch } from '../domain/checksum.js';
import { ConfigError, NotFoundError } from '../errors.js';
import { diff, type JsonValue } from '../domain/index.js';
import type { EventLog } from '../log/port.js';
import { sendCommand } from '../runtime/control.js';
import type { RuntimeWire } from '../runtime/wire.js';
import type { FailureDetection, RecoveryPlan, RecoveryPolicy, RecoveryRecord, RecoveryRecordStore, RecoveryStrategy } from '../store/recovery-records.js';
import { NO_METRICS, type Metrics } from '../telemetry/metrics.js';
import { RecoveryHistory } from './estimate.js';
import { fencesFirst, planOf, rollbackPlanOf, seedTarget } from './plan.js';
import { backoffDelay, resolvePolicy } from './policy.js';
import { failureBound, findRestorePoint } from './restore.js';
import type { FleetView } from './view.js';
import { positiveInt } from '../util/options.js';
import { sleep } from '../util/retry.js';

export interface RecoveryEngineOptions {
  /** This detector instance (the owner written into records it works on). */
  instance: string;
  store: RecoveryRecordStore;
  view: FleetView;
  log: EventLog;
  wire: RuntimeWire;
  controlTopic: string;
  /** The events topic and its codec: a restore folds the agent's history from it to find the version to restore. */
  eventsTopic: string;
  codec: EventCodec;
  /** A view of the log (reads heads for validation) and the writer that marks a crash-looping agent `error`. */
  client: AgentStateClient;
  /** How long a start may take to show in a heartbeat before the next attempt. @default 10000 */
  servingTimeoutMs?: number;
  /** How long a claim holds without renewal; an instance that dies mid-recovery loses it after this. @default 15000 */
  leaseMs?: number;
  metrics?: Metrics;
  logger?: Logger;
  signal?: AbortSignal;
}

/** The seed's ValidationResult, for a recovered agent. */
export interface ValidationResult {
  valid: boolean;
  version: number;
  checksum: string;
  detail: string;
}

/**
 * Executes recoveries (the seed's RecoveryEngine: planRecovery,
 * executeRecovery, validateRecoveredState, monitorRecovery). One failure has
 * one record, `<instanceId>@<failedEpoch>`, created by whichever detector
 * instance gets there first; the others leave it alone while its lease
 * holds and take it over (a unique-key claim) when it lapses. A start command
 * carries the failed epoch: a host refuses it once the agent moved past it,
 * and if two starts still race, the later acquire fences the earlier one, so
 * the agent never has two writers (DESIGN.md Invariant 3).
 */
export class RecoveryEngine {
  private readonly o: ResolvedRecoveryEngineOptions;
  private readonly metrics: Metrics;
  /** Recoveries this instance is executing now, by recoveryId. */
  readonly active = new Map<string, Promise<RecoveryRecord | undefined>>();
  private readonly history: RecoveryHistory;

  constructor(options: RecoveryEngineOptions) {
    // It validates and restores agents it does not own: a scoped client would answer "not in the log" for every one.
    if (options.client.scope !== 'fleet') throw new ConfigError('client', "the recovery engine needs a client connected with scope: 'fleet' (it reads agents it does not own)");
    this.o = resolveRecoveryEngineOptions(options);
    this.metrics = options.metrics ?? NO_METRICS;
    this.history = new RecoveryHistory(options.store);
  }

  /** Starts (or joins) the recovery of one detected failure; resolves with its final record, or undefined when another instance has it. */
  recover(failure: FailureDetection): Promise<RecoveryRecord | undefined> {
    const recoveryId = `${failure.instanceId}@${failure.failedEpoch}`;
    let run = this.active.get(recoveryId);
    if (!run) {
      run = this.run(recoveryId, failure).finally(() => this.active.delete(recoveryId));
      this.active.set(recoveryId, run);
    }
    return run;
  }

  /** The seed's monitorRecovery: the record as it stands. */
  monitorRecovery(recoveryId: string): Promise<RecoveryRecord | undefined> {
    return this.o.store.get(recoveryId);
  }

  /**
   * Takes over recoveries whose owner's lease lapsed (the instance was killed
   * mid-recovery): nothing is left orphaned.
   */
  async adoptAbandoned(now = Date.now()): Promise<void> {
    for (const r of await this.o.store.list({ status: 'in_progress', limit: 1000 })) {
      if (r.leaseUntil < now && !this.active.has(r.recoveryId)) void this.recover(r.failure).catch((e: unknown) => this.o.logger?.error({ err: e, recoveryId: r.recoveryId }, 'recovery failed'));
    }
  }

  private async run(recoveryId: string, failure: FailureDetection): Promise<RecoveryRecord | undefined> {
    const now = Date.now();
    const leaseMs = this.o.leaseMs;
    let record: RecoveryRecord = {
      recoveryId,
      instanceId: failure.instanceId,
      failure,
      plan: null,
      steps: [{ name: 'detect', at: failure.detectedAt, ms: failure.detectedAt - failure.failedAt, detail: `${failure.type} (confidence ${failure.confidence.toFixed(2)})` }],
      status: 'in_progress',
      result: null,
      owner: this.o.instance,
      generation: 1,
      leaseUntil: now + leaseMs,
      createdAt: now,
      updatedAt: now,
    };
    if (!(await this.o.store.create(record))) {
      const existing = await this.o.store.get(recoveryId);
      if (!existing || existing.status !== 'in_progress' || existing.leaseUntil >= Date.now()) return undefined;
      // Its owner stopped renewing: take it over with the next generation.
      if (!(await this.o.store.claim(recoveryId, existing.generation + 1, this.o.instance))) return undefined;
      record = { ...existing, owner: this.o.instance, generation: existing.generation + 1, leaseUntil: Date.now() + leaseMs };
      record.steps.push({ name: 'claim', at: Date.now(), ms: 0, detail: `taken over from ${existing.owner} (lease lapsed)` });
      this.metrics.inc('agentstate_recovery_takeovers_total');
    } else {
      this.metrics.inc('agentstate_recovery_detections_total', { type: failure.type });
      this.metrics.observe('agentstate_recovery_time_to_detect_seconds', (failure.detectedAt - failure.failedAt) / 1000);
    }
    const save = async (): Promise<void> => {
      record.updatedAt = Date.now();
      record.leaseUntil = record.updatedAt + leaseMs;
      await this.o.store.save(record);
    };
    const finish = async (status: RecoveryRecord['status'], result: NonNullable<RecoveryRecord['result']>): Promise<RecoveryRecord> => {
      record.status = status;
      record.result = { ...result, timeToDetectMs: failure.detectedAt - failure.failedAt, durationMs: Date.now() - failure.detectedAt };
      await save();
      this.history.remember(record);
      this.metrics.inc('agentstate_recoveries_total', { result: status });
      this.o.logger?.info({ recoveryId, status, ...record.result }, 'recovery finished');
      return record;
    };

    if (failure.type === 'fenced_writes') {
      // A writer that lost the agent still writes; its writes are rejected
      // (Invariant 3) and it stops at its first FencedError. Nothing to start:
      // the record says who serves the agent now, or that no runtime host does
      // (the new owner may be a writer outside any host).
      const sentAt = Date.now();
      const served = await this.waitServing(failure, sentAt, record, save);
      if (served) return this.validated(record, failure, served, finish);
      return finish('skipped', { reason: `writes at epoch ${failure.failedEpoch} were fenced, and no runtime host lists the agent at a newer epoch` });
    }
    const head = this.o.client.getState(failure.instanceId);
    const { scope, policy } = await resolvePolicy(this.o.store, failure.instanceId, head?.state.agentType);
    if (!policy.enabled) return finish('skipped', { reason: `auto-recovery is disabled (policy ${scope})` });
    // An anomaly is acted on with the approach its policy action names (see RecoveryPolicy.anomalyActions).
    const approach = failure.type === 'anomaly' && (failure.evidence.approach === 'restart' || failure.evidence.approach === 'restore') ? failure.evidence.approach : policy.strategy.approach;
    const strategy = { ...policy.strategy, approach };
    const loop = await this.crashLoop(failure.instanceId, policy, recoveryId);
    if (loop) {
      const t = Date.now();
      await this.markError(failure.instanceId, loop);
      record.steps.push({ name: 'mark_error', at: t, ms: Date.now() - t, detail: loop });
      return finish('gave_up', { reason: loop });
    }

    const earlier = record.plan;
    if (earlier?.estimatedDuration === undefined) {
      // A record taken over keeps its plan; one written before plans had estimates gets them now.
      record.plan = { ...(await this.planRecovery(failure, strategy)), ...(earlier ? { targetNode: earlier.targetNode, targetVersion: earlier.targetVersion, attempts: earlier.attempts } : {}) };
    }

    // A live owner (error burst, stuck task) is fenced first, and a restore
    // writes its state operation, both under one new epoch held by this
    // instance: the start then takes the agent from that epoch.
    let expectedEpoch = failure.failedEpoch;
    if (fencesFirst(failure, strategy)) {
      if (this.servingAfter(failure)) {
        // Already served at a newer epoch (an instance we took over from got through): nothing to fence or restore.
      } else {
        const op = await this.stateOperation(record, failure, strategy);
        if (op === undefined) return finish('failed', { reason: `agent ${failure.instanceId} is not in the log` });
        expectedEpoch = op;
        await save();
      }
    }

    const tried = new Set<string>(failure.nodeId ? [failure.nodeId] : []);
    const region = failure.nodeId ? (this.o.view.nodes.get(failure.nodeId)?.last.region ?? null) : null;
    const maxAttempts = strategy.autoRetry.enabled ? strategy.autoRetry.maxRetries + 1 : 1;
    for (let attempt = (record.plan?.attempts ?? 0) + 1; attempt <= maxAttempts && !this.o.signal?.aborted; attempt++) {
      // Already serving at a newer epoch (an earlier attempt, or the instance we took over from, got through).
      const served = this.servingAfter(failure);
      if (served) {
        // An earlier attempt got through after its wait ended (a slow host), or the instance we took over from did.
        const since = record.steps.find((st) => st.name === 'command')?.at ?? failure.detectedAt;
        record.steps.push({ name: 'serving', at: Date.now(), ms: Date.now() - since, detail: `${failure.instanceId} serving on ${served.nodeId} at epoch ${served.epoch}` });
        return this.validated(record, failure, served, finish);
      }
      const planAt = Date.now();
      const target = this.o.view.chooseTarget(region, tried, planAt) ?? this.o.view.chooseTarget(region, new Set(failure.nodeId ? [failure.nodeId] : []), planAt);
      const plan = record.plan!;
      plan.targetNode = target ?? null;
      plan.attempts = attempt;
      record.steps.push({ name: 'plan', at: planAt, ms: 0, detail: target ? `attempt ${attempt}: start on ${target}` : `attempt ${attempt}: no live runtime host` });
      if (target) {
        const node = this.o.view.nodes.get(target);
        node?.pending.add(failure.instanceId);
        const sentAt = Date.now();
        await sendCommand(this.o.log, this.o.wire, this.o.controlTopic, {
          instanceId: failure.instanceId,
          commandType: 'start',
          targetNode: target,
          sourceNode: failure.nodeId,
          issuedBy: `recovery:${this.o.instance}`,
          recoveryStrategy: strategy.approach,
          attempt,
          deadline: sentAt + this.o.servingTimeoutMs,
          correlationId: recoveryId,
          ...(plan.targetVersion !== null ? { recoveryTarget: seedTarget(strategy.targetState), targetVersion: plan.targetVersion } : {}),
          parameters: { expectedEpoch: String(expectedEpoch) },
        });
        record.steps.push({ name: 'command', at: sentAt, ms: Date.now() - sentAt, detail: `start ${failure.instanceId} on ${target} (expected epoch ${expectedEpoch})` });
        await save();
        const servedNow = await this.waitServing(failure, sentAt, record, save);
        if (servedNow) return this.validated(record, failure, servedNow, finish);
        tried.add(target);
        node?.pending.delete(failure.instanceId);
      } else {
        await save();
      }
      if (attempt < maxAttempts) await sleep(backoffDelay(strategy.autoRetry, attempt), this.o.signal);
    }
    if (this.o.signal?.aborted) return record; // stopping: the lease lapses and another instance continues
    return finish('failed', { reason: `not serving after ${maxAttempts} attempt(s)` });
  }

  /**
   * The seed's planRecovery: the steps the strategy takes, the estimates from
   * past recoveries (src/recovery/estimate.ts), and the rollback plan, which
   * names the agent's head now (before any state operation) as the state to
   * return to if the recovery fails.
   */
  async planRecovery(failure: FailureDetection, strategy: RecoveryStrategy): Promise<RecoveryPlan> {
    const head = this.o.client.getState(failure.instanceId);
    return planOf(failure, strategy, head, await this.history.estimate(failure, strategy));
  }

  /** The owner the heartbeats show at an epoch above the failed one, if any. */
  private servingAfter(failure: FailureDetection): { nodeId: string; epoch: number; version: number } | undefined {
    const o = this.o.view.owners.get(failure.instanceId);
    return o && o.epoch > failure.failedEpoch && this.o.view.nodes.get(o.nodeId)?.status === 'alive' ? o : undefined;
  }

  private async waitServing(failure: FailureDetection, sentAt: number, record: RecoveryRecord, save: () => Promise<void>): Promise<{ nodeId: string; epoch: number; version: number } | undefined> {
    const until = sentAt + this.o.servingTimeoutMs;
    let renewAt = Date.now() + 2000;
    while (Date.now() < until && !this.o.signal?.aborted) {
      const s = this.servingAfter(failure);
      if (s) {
        record.steps.push({ name: 'serving', at: Date.now(), ms: Date.now() - sentAt, detail: `${failure.instanceId} serving on ${s.nodeId} at epoch ${s.epoch}` });
        return s;
      }
      if (Date.now() > renewAt) {
        await save(); // renews the lease
        renewAt = Date.now() + 2000;
      }
      await sleep(25, this.o.signal);
    }
    return undefined;
  }

  private async validated(
    record: RecoveryRecord,
    failure: FailureDetection,
    served: { nodeId: string; epoch: number; version: number },
    finish: (status: RecoveryRecord['status'], result: NonNullable<RecoveryRecord['result']>) => Promise<RecoveryRecord>,
  ): Promise<RecoveryRecord> {
    const servingAt = Date.now();
    this.metrics.observe('agentstate_recovery_time_to_serving_seconds', (servingAt - failure.failedAt) / 1000);
    const base = { servingNode: served.nodeId, epoch: served.epoch, version: served.version, timeToServingMs: servingAt - failure.failedAt };
    if (record.plan?.strategy.verificationRequired === false) return finish('succeeded', { reason: 'serving (verification not required)', ...base });
    const t = Date.now();
    const v = await this.validateRecoveredState(failure.instanceId, served.version);
    record.steps.push({ name: 'validate', at: t, ms: Date.now() - t, detail: v.detail });
    return v.valid ? finish('succeeded', { reason: 'serving, state verified', ...base, checksum: v.checksum }) : finish('failed', { reason: `serving, but ${v.detail}`, ...base });
  }

  /**
   * The seed's validateRecoveredState: the state the log holds for the agent
   * (folded by this instance's view, each event's checksum checked by the fold)
   * is recomputed from scratch and must equal the checksum the last event carries.
   */
  async validateRecoveredState(instanceId: string, minVersion = 0, timeoutMs = 5000): Promise<ValidationResult> {
    const until = Date.now() + timeoutMs;
    let head = this.o.client.getState(instanceId);
    while ((!head || head.version < minVersion) && Date.now() < until) {
      await sleep(20, this.o.signal);
      head = this.o.client.getState(instanceId);
    }
    if (!head) return { valid: false, version: 0, checksum: '', detail: `agent ${instanceId} is not in the log` };
    const recomputed = checksumFromScratch(head.state);
    const valid = recomputed === head.checksum;
    return {
      valid,
      version: head.version,
      checksum: head.checksum,
      detail: valid ? `checksum of version ${head.version} equals the fold` : `checksum mismatch at version ${head.version}: fold ${recomputed}, event ${head.checksum}`,
    };
  }

  /**
   * Fences the failing owner (acquire: epoch + 1) and, for a `restore` plan,
   * appends the state operation (`state_rolled_back` to the restore point,
   * docs/recovery.md "Last known good") before anyone is started; then
   * releases. A plan whose restore point cannot be found restarts the agent
   * as it is, and the step says why. Returns the epoch the start must expect,
   * undefined when the agent is not in the log.
   */
  private async stateOperation(record: RecoveryRecord, failure: FailureDetection, strategy: RecoveryStrategy): Promise<number | undefined> {
    const c = this.o.client;
    const t = Date.now();
    let acquired;
    try {
      acquired = await c.acquire(failure.instanceId);
    } catch (e) {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
    let detail = `fenced the owner at epoch ${acquired.epoch - 1}: ${failure.instanceId} is now at epoch ${acquired.epoch}`;
    // The head this operation starts from, exactly (the plan's was this instance's view when it planned, which may lag the owner's last writes).
    if (record.plan) record.plan.rollbackPlan = rollbackPlanOf(failure.instanceId, c.getState(failure.instanceId), strategy);
    try {
      if (strategy.approach === 'restore') {
        const bound = failureBound(failure);
        const point = await findRestorePoint(this.o.log, this.o.codec, this.o.eventsTopic, failure.instanceId, strategy.targetState, bound);
        if (!point) {
          detail += `; no ${strategy.targetState} version below ${bound === Number.MAX_SAFE_INTEGER ? 'the head' : `version ${bound}`}: restarting it as it is`;
        } else {
          const head = c.getState(failure.instanceId)!;
          const changes = diff(head.state as unknown as JsonValue, point.state);
          const r = await c.updateState(failure.instanceId, changes, {
            eventType: 'state_rolled_back',
            expectedVersion: head.version,
            correlationId: record.recoveryId,
            metadata: { rolledBackTo: String(point.version), reason: `recovery ${record.recoveryId}: ${failure.type}`, recoveryId: record.recoveryId },
          });
          if (record.plan) record.plan.targetVersion = point.version;
          detail += `; restored version ${point.version} (${point.why}) as version ${r.newVersion}, checksum ${r.checksum}`;
        }
      }
    } finally {
      await c.release(failure.instanceId);
    }
    record.steps.push({ name: 'state_operation', at: t, ms: Date.now() - t, detail });
    return acquired.epoch;
  }

  /** A reason when the agent was recovered more than the policy allows within its window (a crash loop). */
  private async crashLoop(instanceId: string, policy: RecoveryPolicy, current: string): Promise<string | undefined> {
    const since = Date.now() - policy.crashLoop.windowMs;
    const earlier = (await this.o.store.list({ instanceId, since, limit: 1000 })).filter((r) => r.recoveryId !== current && (r.status === 'succeeded' || r.status === 'in_progress' || r.status === 'failed'));
    if (earlier.length < policy.crashLoop.maxRecoveries) return undefined;
    this.metrics.inc('agentstate_recovery_detections_total', { type: 'crash_loop' });
    return `crash loop: ${earlier.length} recoveries within ${Math.round(policy.crashLoop.windowMs / 1000)}s (policy maximum ${policy.crashLoop.maxRecoveries})`;
  }

  /** Parks a crash-looping agent: status `error` with the reason, written under a new epoch (so no stale host writes after it), then released. */
  private async markError(instanceId: string, reason: string): Promise<void> {
    const c = this.o.client;
    await c.acquire(instanceId);
    try {
      await c.statusChanged(instanceId, 'error', reason);
    } finally {
      await c.release(instanceId);
    }
  }
}

/** Applied once at the boundary (STYLE.md habit 5); the `@default` tags say the same (test/unit/config/defaults.unit.test.ts checks). */
export const DEFAULT_RECOVERY_ENGINE_OPTIONS: Readonly<Required<Pick<RecoveryEngineOptions, 'servingTimeoutMs' | 'leaseMs'>>> = Object.freeze({ servingTimeoutMs: 10_000, leaseMs: 15_000 });

export type ResolvedRecoveryEngineOptions = RecoveryEngineOptions & typeof DEFAULT_RECOVERY_ENGINE_OPTIONS;

/** @throws ConfigError naming the field */
export function resolveRecoveryEngineOptions(o: RecoveryEngineOptions): ResolvedRecoveryEngineOptions {
  const r = { ...DEFAULT_RECOVERY_ENGINE_OPTIONS, ...o };
  positiveInt(r.servingTimeoutMs, 'servingTimeoutMs');
  positiveInt(r.leaseMs, 'leaseMs');
  return r;
}
