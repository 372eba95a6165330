import { readEventRecord, step, type JsonValue, type Projection } from '../domain/index.js';
import type { EventCodec } from '../codec/event-codec.js';
import type { EventLog } from '../log/port.js';
import type { FailureDetection, RecoveryStrategy } from '../store/recovery-records.js';

/** A version of an agent to restore to, folded and verified from the log. */
export interface RestorePoint {
  version: number;
  checksum: string;
  state: JsonValue;
  /** Why this version (which rule of docs/recovery.md "Last known good" picked it). */
  why: string;
}

/** Records read per request while folding a partition. */
const CHUNK = 5000n;

/**
 * The version a failure is judged from: the state before its first evidence
 * (the first error of a burst, the stuck task's assignment); for a silent
 * host or fenced writes, the head.
 */
export function failureBound(failure: FailureDetection): number {
  const e = failure.evidence;
  if (failure.type === 'error_burst' && typeof e.firstErrorVersion === 'number') return e.firstErrorVersion;
  if (failure.type === 'agent_stuck' && typeof e.taskVersion === 'number') return e.taskVersion;
  return Number.MAX_SAFE_INTEGER;
}

/**
 * Folds the agent's partition of the events topic with the projector's rules
 * (every accepted event's checksum recomputed and checked: `step`) up to
 * `bound` (exclusive) and picks the restore point for `target`:
 *
 * - `last_known_good`: the state right after the last `task_completed` below
 *   the bound whose task (since its `task_assigned`) saw no `error_occurred`;
 * - `previous_version`: the version just below the bound;
 * - `clean_state`: version 1, the state the agent was created with.
 *
 * Undefined when there is no such version (e.g. no task ever completed).
 */
export async function findRestorePoint(log: EventLog, codec: EventCodec, eventsTopic: string, instanceId: string, target: RecoveryStrategy['targetState'], bound: number): Promise<RestorePoint | undefined> {
  const partition = await log.partitionFor(eventsTopic, instanceId);
  const [start, end] = await Promise.all([log.startOffsets(eventsTopic), log.endOffsets(eventsTopic)]);
  const until = BigInt(end[partition] ?? '0');
  let head: Projection | undefined;
  let found: RestorePoint | undefined;
  let errored = false;
  for (let from = BigInt(start[partition] ?? '0'); from < until; from += CHUNK) {
    const to = from + CHUNK < until ? from + CHUNK : until;
    for (const record of await log.read(eventsTopic, partition, from.toString(), to.toString())) {
      if (record.key !== instanceId) continue;
      const reading = await readEventRecord(record, codec);
      if (reading.kind !== 'event') continue;
      const r = step(head, reading.event);
      if (!r.accept) continue;
      head = r.projection;
      if (head.version >= bound) return found;
      const type = reading.event.eventType;
      if (target === 'clean_state' && head.version === 1) return point(head, 'clean_state: the state the agent was created with (version 1)');
      if (target === 'previous_version') found = point(head, `previous_version: the last version before ${bound}`);
      if (target !== 'last_known_good') continue;
      if (type === 'task_assigned') errored = false;
      else if (type === 'error_occurred') errored = true;
      else if (type === 'task_completed' && !errored) found = point(head, `last_known_good: task completed at version ${head.version} with no error since its assignment`);
    }
  }
  return found;
}

function point(p: Projection, why: string): RestorePoint {
  return { version: p.version, checksum: p.checksum, state: p.state, why };
}
