import { decide } from '../domain/acceptance.js';
import type { StateEvent } from '../domain/index.js';
import type { StoredRecord } from '../log/port.js';
import { HEADER } from '../client/tail.js';
import type { FailureDetection, RecoveryPolicy } from '../store/recovery-records.js';

/** What the watch keeps per agent: the log's decision state (version, epoch) and the activity it judges. */
interface AgentActivity {
  version: number;
  epoch: number;
  /** Record time of the agent's last accepted event. */
  lastEventAt: number;
  /** Record times and versions of accepted `error_occurred` events within the burst window. */
  errors: { at: number; version: number }[];
  /** The task in hand: assigned at this version and time, not yet completed or failed. */
  task: { version: number; at: number } | undefined;
  /** The epoch a detection was already raised for (one detection per failure: recoveries are per epoch). */
  reported: Set<string>;
}

/**
 * Failure detection from the events topic (issue 15), beside the heartbeat
 * detector: error bursts, stuck tasks and fenced writes. It reads record
 * headers only (eventType, version, writerEpoch; DESIGN.md "Wire format"
 * puts them on every record), decides accept/reject with the log's own rule
 * (`decide`, Invariant 3), so it folds no state. An agent first seen
 * mid-stream is taken as it is (its first record seeds version and epoch).
 *
 * - error burst: `errorBurst.errors` accepted `error_occurred` within `errorBurst.windowMs` (record time);
 * - stuck task: a task assigned and no accepted event of the agent for `stuckTaskMs` (0 = off), judged by `tick`;
 * - fenced writes: an event rejected as `stale_epoch`: a writer that lost ownership still writes (a zombie).
 */
export class EventWatch {
  private readonly agents = new Map<string, AgentActivity>();

  constructor(
    /** The policy in force for an agent (synchronous: the caller caches policies). */
    private readonly policyOf: (instanceId: string) => RecoveryPolicy,
    /** Where the agent's owner runs now, for the detection's nodeId (from heartbeats). */
    private readonly ownerNode: (instanceId: string) => string | null,
  ) {}

  /** Folds one events-topic record; returns the detections it completes. */
  onRecord(record: StoredRecord): FailureDetection[] {
    const version = Number(record.headers[HEADER.version]);
    const epoch = Number(record.headers[HEADER.epoch]);
    const eventType = record.headers[HEADER.type] as StateEvent['eventType'] | undefined;
    if (!Number.isSafeInteger(version) || !Number.isSafeInteger(epoch) || !eventType || record.value === null) return [];
    const id = record.key;
    const at = record.timestamp;
    let a = this.agents.get(id);
    if (!a) {
      a = { version: version - 1, epoch: eventType === 'ownership_acquired' ? epoch - 1 : epoch, lastEventAt: at, errors: [], task: undefined, reported: new Set() };
      this.agents.set(id, a);
    }
    const decision = decide(a.version === 0 ? undefined : { version: a.version, epoch: a.epoch }, { version: version as StateEvent['version'], writerEpoch: epoch as StateEvent['writerEpoch'], eventType });
    if (!decision.accept) {
      if (decision.reason !== 'stale_epoch') return [];
      return this.once(a, `fenced@${epoch}`, () => ({
        type: 'fenced_writes',
        instanceId: id,
        nodeId: null,
        // The failure these writes betray is the fenced writer's: the recovery of that epoch (often already done) covers it.
        failedEpoch: epoch,
        detectedAt: Date.now(),
        failedAt: at,
        confidence: 1,
        evidence: { rejectedVersion: version, rejectedEpoch: epoch, ownerEpoch: a.epoch, eventType },
      }));
    }
    a.version = version;
    a.epoch = epoch;
    a.lastEventAt = at;
    if (eventType === 'task_assigned') a.task = { version, at };
    else if (eventType === 'task_completed' || eventType === 'task_failed') a.task = undefined;
    if (eventType !== 'error_occurred') return [];
    const policy = this.policyOf(id);
    a.errors.push({ at, version });
    while (a.errors.length > 0 && a.errors[0]!.at < at - policy.errorBurst.windowMs) a.errors.shift();
    if (a.errors.length < policy.errorBurst.errors) return [];
    const first = a.errors[0]!;
    return this.once(a, `burst@${epoch}`, () => ({
      type: 'error_burst',
      instanceId: id,
      nodeId: this.ownerNode(id),
      failedEpoch: epoch,
      detectedAt: Date.now(),
      failedAt: first.at,
      confidence: Math.min(1, a.errors.length / policy.errorBurst.errors),
      evidence: { errors: a.errors.length, windowMs: policy.errorBurst.windowMs, firstErrorVersion: first.version, lastErrorVersion: version },
    }));
  }

  /** Stuck tasks: a task in hand and no accepted event for the policy's `stuckTaskMs`. */
  tick(now: number): FailureDetection[] {
    const out: FailureDetection[] = [];
    for (const [id, a] of this.agents) {
      if (!a.task) continue;
      const limit = this.policyOf(id).stuckTaskMs;
      if (limit <= 0 || now - a.lastEventAt < limit) continue;
      const task = a.task;
      out.push(
        ...this.once(a, `stuck@${a.epoch}`, () => ({
          type: 'agent_stuck',
          instanceId: id,
          nodeId: this.ownerNode(id),
          failedEpoch: a.epoch,
          detectedAt: now,
          failedAt: a.lastEventAt + limit,
          // Silence past the deadline makes it likelier the agent is stuck rather than slow.
          confidence: Math.min(1, (now - a.lastEventAt) / (2 * limit)),
          evidence: { taskVersion: task.version, silentMs: now - a.lastEventAt, stuckTaskMs: limit, lastVersion: a.version },
        })),
      );
    }
    return out;
  }

  private once(a: AgentActivity, key: string, make: () => FailureDetection): FailureDetection[] {
    if (a.reported.has(key)) return [];
    a.reported.add(key);
    return [make()];
  }
}
