import type { Cache } from '../cache/port.js';
import { stateCacheKey } from '../cache/state-entry.js';
import { LogMismatchError } from '../errors.js';
import type { EventLog } from '../log/port.js';
import type { LogBinding, StateStore } from '../store/port.js';

/** One way a store and a log disagree (issue 12 §3). */
export type LogProblem = { kind: 'other_log'; detail: string } | { kind: 'log_behind'; partition: number; storeOffset: string; logEnd: string | undefined };

/** What {@link inspectLogBinding} found. */
export interface LogBindingReport {
  /** The configured log's identity. */
  logId: string;
  topic: string;
  /** The binding the store held before this call (undefined: never bound). */
  binding: LogBinding | undefined;
  problems: LogProblem[];
}

/**
 * Compares the store with the log, read-only: the store must have been bound
 * to this log (same identity, same events topic), and no state may reflect a
 * position the log does not have (an offset at or past the partition's end:
 * the log was emptied, replaced or lost records the store had projected).
 */
export async function inspectLogBinding(log: EventLog, store: StateStore, topic: string): Promise<LogBindingReport> {
  const [logId, binding, ends, high] = await Promise.all([log.identity(), store.getLogBinding(), log.endOffsets(topic), store.highestPositions()]);
  const problems: LogProblem[] = [];
  if (binding && (binding.logId !== logId || binding.topic !== topic)) {
    problems.push({ kind: 'other_log', detail: `the store projects ${binding.logId} topic ${binding.topic} (bound ${new Date(binding.boundAt).toISOString()}); the configured log is ${logId} topic ${topic}` });
  }
  for (const [p, offset] of Object.entries(high)) {
    const end = ends[Number(p)];
    if (end === undefined || BigInt(offset) >= BigInt(end)) problems.push({ kind: 'log_behind', partition: Number(p), storeOffset: offset, logEnd: end });
  }
  return { logId, topic, binding, problems };
}

/** One line per problem, for errors and `doctor`. */
export function describeLogProblem(p: LogProblem): string {
  if (p.kind === 'other_log') return p.detail;
  return p.logEnd === undefined
    ? `the store holds states from partition ${p.partition} (offset ${p.storeOffset}), which the log does not have`
    : `partition ${p.partition}: the store holds a state from offset ${p.storeOffset} but the log ends at ${p.logEnd} (emptied, replaced or truncated)`;
}

export interface BindLogOptions {
  /**
   * On a mismatch, drop the store's projection (states, event mirror,
   * snapshot metadata, cached states) and bind it to this log, so the
   * projector refolds the log from its start: the `--rebuild` path.
   * @default false
   */
  rebuild?: boolean;
  /** Cached states to drop with the projection on a rebuild. */
  cache?: Cache;
  /** Resets this projector group to the log's start on a rebuild (its commits belong to the old projection). */
  group?: string;
}

/** How a reader of the store gets out of a mismatch: it writes nothing itself, so the way out is the projector's. */
export const READER_WAY_OUT =
  'Point at the right log (KAFKA_BROKERS, AGENTSTATE_DATA_DIR, AGENTSTATE_TOPIC_PREFIX), or rebuild the store from this log with `agentstate projector --rebuild --until-caught-up`; `agentstate doctor` reports the checks (docs/operations.md, "The store and its log")';

const PROJECTOR_WAY_OUT = 'Point at the right log (--data-dir, KAFKA_BROKERS, AGENTSTATE_TOPIC_PREFIX), or rebuild the store from this log with --rebuild (docs/operations.md, "The store and its log")';

/** The one error every service raises for a store that does not match its log, naming each problem and `wayOut`. */
export function logMismatchError(report: LogBindingReport, wayOut: string): LogMismatchError {
  return new LogMismatchError(`the state store does not match the log: ${report.problems.map(describeLogProblem).join('; ')}. ${wayOut}`, { details: { problems: report.problems } });
}

/**
 * At start, for a service that reads the log beside a store it does not
 * write (backup, analytics, recovery; issue 12 §3): the same checks as
 * {@link bindLog}, read-only (a store never bound is left so, for its
 * projector to bind).
 * @throws LogMismatchError naming each problem and the way out
 */
export async function checkLogBinding(log: EventLog, store: StateStore, topic: string, wayOut: string = READER_WAY_OUT): Promise<LogBindingReport> {
  const report = await inspectLogBinding(log, store, topic);
  if (report.problems.length > 0) throw logMismatchError(report, wayOut);
  return report;
}

/**
 * At start, before a projector writes (issue 12 §3): refuses with
 * {@link LogMismatchError} when the store does not project this log, unless
 * `rebuild`; binds a store that was never bound (a new store, or one written
 * before bindings existed and consistent with the log).
 * @throws LogMismatchError naming each problem and the way out
 */
export async function bindLog(log: EventLog, store: StateStore, topic: string, options: BindLogOptions = {}): Promise<LogBindingReport> {
  const report = await inspectLogBinding(log, store, topic);
  if (report.problems.length > 0) {
    if (!options.rebuild) throw logMismatchError(report, PROJECTOR_WAY_OUT);
    // A rebuild folds the log from its start: with history deleted below it, that would be a wrong store.
    const cut = trimmedPartitions(await log.startOffsets(topic), {});
    if (cut.length > 0) throw trimmedLogError(topic, cut, 'a rebuild would fold it from there');
    // The group first: a crash after it leaves the store unbound-and-mismatched, so the next
    // start refuses again; a crash after the clear finds an empty store and binds it.
    if (options.group) await log.resetGroup(options.group, topic, { to: 'earliest' });
    const ids = await store.clearProjection();
    if (options.cache) for (const id of ids) await options.cache.invalidate(stateCacheKey(id));
  }
  if (report.problems.length > 0 || report.binding === undefined) await store.setLogBinding({ logId: report.logId, topic, boundAt: Date.now() });
  return report;
}

/** Partitions whose records start past 0 and past the given positions: their history before the start is gone from the log. */
function trimmedPartitions(starts: Record<number, string>, positions: Record<number, string>): { partition: number; start: string; position: string | undefined }[] {
  const out: { partition: number; start: string; position: string | undefined }[] = [];
  for (const [p, start] of Object.entries(starts)) {
    const position = positions[Number(p)];
    if (BigInt(start) > 0n && (position === undefined || BigInt(position) < BigInt(start))) out.push({ partition: Number(p), start, position });
  }
  return out;
}

function trimmedLogError(topic: string, cut: { partition: number; start: string; position: string | undefined }[], why: string): LogMismatchError {
  const where = cut.map((c) => `partition ${c.partition} starts at offset ${c.start}${c.position === undefined ? ' (no committed position)' : ` (committed position ${c.position})`}`).join('; ');
  return new LogMismatchError(
    `${topic} no longer holds its history (${where}): older records were deleted (capped behind the backup, or by retention.ms), and ${why}, giving a wrong store. ` +
      'Build the store from the backup instead: `agentstate restore --to latest` (docs/backup.md, "Capping the events topic")',
    { details: { trimmed: cut } },
  );
}

/**
 * At start, after {@link bindLog}: a projector whose group has no position
 * at or past a partition's start would fold that partition from a start with
 * history missing before it (records deleted by the cap behind the backup or
 * by `retention.ms`).
 * @throws LogMismatchError naming each such partition and the way out (a restore)
 */
export async function checkLogStart(log: EventLog, topic: string, group: string): Promise<void> {
  const [starts, committed] = await Promise.all([log.startOffsets(topic), log.committedOffsets(group, topic)]);
  const cut = trimmedPartitions(starts, committed);
  if (cut.length > 0) throw trimmedLogError(topic, cut, `projector group ${group} would start there`);
}
