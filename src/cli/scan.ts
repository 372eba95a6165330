import { readEventRecord, step, type Projection, type RecordRejectReason, type RejectReason, type StateEvent } from '../domain/index.js';
import type { Backend } from './backend.js';
import type { BlobStore } from '../blob/port.js';
import type { Keyring } from '../codec/keyring.js';
import type { EventReader } from '../domain/index.js';
import { LogMismatchError } from '../errors.js';
import type { StoredRecord } from '../log/port.js';
import { archivedHistory, backupReader } from '../backup/index.js';

/** The whole events topic folded per agent, as the projector would (used by status/inspect until the store serves them). */
export interface LogScan {
  agents: Map<string, Projection>;
  events: number;
  rejected: number;
  rejectedByReason: Partial<Record<RejectReason | RecordRejectReason, number>>;
}

/** One event of the kept agent, in log order, with the log's decision on it. */
export interface HistoryEntry {
  event: StateEvent;
  accepted: boolean;
  /** Why the log rejected it (the DLQ's reason). */
  reason?: RejectReason | RecordRejectReason;
}

/** Opens the backup, for history the events topic no longer has (capped behind the backup). */
export type OpenArchive = () => Promise<{ blobs: BlobStore; keyring?: Keyring; close(): Promise<void> }>;

/**
 * Folds the events topic; where a partition starts past offset 0 (capped
 * behind the backup: docs/backup.md "Capping the events topic"), the records
 * below its start come from the backup first (`archive`), so the fold is the
 * whole history's, not the remaining tail's.
 * @throws LogMismatchError when a partition's start is past 0 and no `archive` is given
 */
export async function scanLog(backend: Backend, options: { keep?: string; until?: (e: StateEvent) => boolean; archive?: OpenArchive } = {}): Promise<LogScan & { history: HistoryEntry[] }> {
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
  let opened: ReturnType<OpenArchive> | undefined;
  // One agent's events are all in the partition its key maps to: read only that one.
  const only = options.keep === undefined ? undefined : await log.partitionFor(topics.events, options.keep);
  try {
    for (const [p, until] of Object.entries(end)) await scanPartition(Number(p), until);
  } finally {
    if (opened) await (await opened).close();
  }
  return { agents, events, rejected, rejectedByReason, history };

  async function scanPartition(p: number, until: string): Promise<void> {
    if (only !== undefined && p !== only) return;
    let from = start[p] ?? '0';
    if (BigInt(from) > 0n) {
      if (!options.archive) throw new LogMismatchError(`${topics.events} partition ${p} starts at offset ${from}: its history before that is in the backup only, which this command was not given`);
      const { blobs, keyring } = await (opened ??= options.archive());
      const archived = await archivedHistory(blobs, topics.events, p, BigInt(from), keyring);
      for (const [id, projection] of archived.checkpoint ?? []) if (options.keep === undefined || id === options.keep) agents.set(id, projection);
      const reader = backupReader(codec, blobs, keyring);
      for await (const r of archived.records) await fold(r, reader);
    }
    while (BigInt(from) < BigInt(until)) {
      // Read in slices so a large log does not sit in memory at once.
      const to = (BigInt(from) + 5000n < BigInt(until) ? BigInt(from) + 5000n : BigInt(until)).toString();
      const records = await log.read(topics.events, p, from, to);
      if (records.length === 0) break;
      for (const r of records) await fold(r, codec);
      from = (BigInt(records.at(-1)!.offset) + 1n).toString();
    }
  }

  async function fold(r: StoredRecord, reader: EventReader): Promise<void> {
    if (options.keep !== undefined && r.key !== options.keep) return;
    // The projector's reading: an undecodable or misfiled record is counted and skipped, never thrown.
    const reading = await readEventRecord(r, reader);
    if (reading.kind === 'tombstone') return;
    if (reading.kind === 'rejected') {
      if (!(reading.event && options.until?.(reading.event))) reject(reading.reason);
      if (reading.event && options.keep !== undefined) history.push({ event: reading.event, accepted: false, reason: reading.reason });
      return;
    }
    const event = reading.event;
    if (options.until?.(event)) return;
    events++;
    const result = step(agents.get(r.key), event);
    if (result.accept) agents.set(r.key, result.projection);
    else reject(result.reason);
    if (options.keep !== undefined) history.push(result.accept ? { event, accepted: true } : { event, accepted: false, reason: result.reason });
  }
}
