import { readEventRecord, step, type Projection, type RecordRejectReason, type RejectReason, type StateEvent } from '../domain/index.js';
import type { Backend } from './backend.js';

/** The whole events topic folded per agent, as the projector would (used by status/inspect until the store serves them). */
export interface LogScan {
  agents: Map<string, Projection>;
  events: number;
  rejected: number;
  rejectedByReason: Partial<Record<RejectReason | RecordRejectReason, number>>;
}

/** Folds every event of the log; with `keep`, only that agent's partition, and its events are kept in `history`. */
/** One event of the kept agent, in log order, with the log's decision on it. */
export interface HistoryEntry {
  event: StateEvent;
  accepted: boolean;
  /** Why the log rejected it (the DLQ's reason). */
  reason?: RejectReason | RecordRejectReason;
}

export async function scanLog(backend: Backend, options: { keep?: string; until?: (e: StateEvent) => boolean } = {}): Promise<LogScan & { history: HistoryEntry[] }> {
  const { log, topics, codec } = backend;
  const start = await log.startOffsets(topics.events);
  const end = await log.endOffsets(topics.events);
  const agents = new Map<string, Projection>();
  const history: HistoryEntry[] = [];
  const rejectedByReason: Partial<Record<RejectReason | RecordRejectReason, number>> = {};
  const reject = (reason: RejectReason | RecordRejectReason): void => {
    rejected++;
    rejectedByReason[reason] = (rejectedByReason[reason] ?? 0) + 1;
  };
  let events = 0;
  let rejected = 0;
  // One agent's events are all in the partition its key maps to: read only that one.
  const only = options.keep === undefined ? undefined : await log.partitionFor(topics.events, options.keep);
  for (const [p, until] of Object.entries(end)) {
    if (only !== undefined && Number(p) !== only) continue;
    let from = start[Number(p)] ?? '0';
    while (BigInt(from) < BigInt(until)) {
      // Read in slices so a large log does not sit in memory at once.
      const to = (BigInt(from) + 5000n < BigInt(until) ? BigInt(from) + 5000n : BigInt(until)).toString();
      const records = await log.read(topics.events, Number(p), from, to);
      if (records.length === 0) break;
      for (const r of records) {
        if (options.keep !== undefined && r.key !== options.keep) continue;
        // The projector's reading: an undecodable or misfiled record is counted and skipped, never thrown.
        const reading = await readEventRecord(r, codec);
        if (reading.kind === 'tombstone') continue;
        if (reading.kind === 'rejected') {
          if (!(reading.event && options.until?.(reading.event))) reject(reading.reason);
          if (reading.event && options.keep !== undefined) history.push({ event: reading.event, accepted: false, reason: reading.reason });
          continue;
        }
        const event = reading.event;
        if (options.until?.(event)) continue;
        events++;
        const result = step(agents.get(r.key), event);
        if (result.accept) agents.set(r.key, result.projection);
        else reject(result.reason);
        if (options.keep !== undefined) history.push(result.accept ? { event, accepted: true } : { event, accepted: false, reason: result.reason });
      }
      from = (BigInt(records.at(-1)!.offset) + 1n).toString();
    }
  }
  return { agents, events, rejected, rejectedByReason, history };
}
