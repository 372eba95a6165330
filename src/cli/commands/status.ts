import { parse, backendKind, GLOBAL_HELP, positionalArgs } from '../args.js';
import { openBackend } from '../backend.js';
import { openStoreOnly } from '../store-only.js';
import { projectorGroup, type TopicNames } from '../../log/topics.js';
import type { EventLog } from '../../log/port.js';
import type { StateStore } from '../../store/port.js';

export const help = `agentstate status [options]

What the store and the log hold, without reading history: agents, events and
snapshots in the projector's state store, the highest version, records on the
events topic and in the dead-letter topic (rejected), and how many records
the projector has not consumed yet. Reads only the store's counts and the
log's offsets, so it answers in well under a second at any history length.

${GLOBAL_HELP}`;

/** What `status` reports; every figure comes from the store's counts or the log's offsets. */
export interface StatusReport {
  backend: 'embedded' | 'servers';
  location: string;
  /** Agents in the state store (0 before the projector ran). */
  agents: number;
  /** Accepted events in the store's event mirror (trimmed by `compactEvents`; the log keeps all). */
  events: number;
  /** Records in the dead-letter topic (the DLQ is at least once: a redelivered reject is counted again). */
  rejected: number;
  snapshots: number;
  /** Agents in the state store, or null when there is no store yet. */
  projectedAgents: number | null;
  /** The highest version of any agent in the store. */
  maxVersion: number;
  /** Records on the events topic (end minus start offsets, all partitions). */
  logRecords: number;
  /** Records on the events topic the projector's group has not committed yet. */
  pendingRecords: number;
}

/** The log side of a backend: what `statusReport` reads (offsets only). */
export interface StatusSource {
  kind: 'embedded' | 'servers';
  description: string;
  prefix: string;
  log: Pick<EventLog, 'startOffsets' | 'endOffsets' | 'committedOffsets'>;
  topics: Pick<TopicNames, 'events' | 'dlq'>;
}

/**
 * Builds the report from the store's counts and the log's start, end and
 * committed offsets: never a record of history (issue 11: folding the whole
 * log took 7.7 s at 22,500 events and grew with it).
 */
export async function statusReport(source: StatusSource, store: StateStore | undefined): Promise<StatusReport> {
  const { log, topics } = source;
  const [start, end, dlqStart, dlqEnd, committed, counts] = await Promise.all([
    log.startOffsets(topics.events),
    log.endOffsets(topics.events),
    log.startOffsets(topics.dlq),
    log.endOffsets(topics.dlq),
    log.committedOffsets(projectorGroup(source.prefix), topics.events).catch(() => ({}) as Record<number, string>),
    store?.counts(),
  ]);
  let logRecords = 0n;
  let pending = 0n;
  for (const [p, e] of Object.entries(end)) {
    const first = BigInt(start[Number(p)] ?? '0');
    logRecords += BigInt(e) - first;
    // A group that never committed a partition starts at its first record.
    const done = committed[Number(p)] === undefined ? first : BigInt(committed[Number(p)]!);
    if (BigInt(e) > done) pending += BigInt(e) - done;
  }
  let rejected = 0n;
  for (const [p, e] of Object.entries(dlqEnd)) rejected += BigInt(e) - BigInt(dlqStart[Number(p)] ?? '0');
  return {
    backend: source.kind,
    location: source.description,
    agents: counts?.agents ?? 0,
    events: counts?.events ?? 0,
    rejected: Number(rejected),
    snapshots: counts?.snapshots ?? 0,
    projectedAgents: counts?.agents ?? null,
    maxVersion: counts?.maxVersion ?? 0,
    logRecords: Number(logRecords),
    pendingRecords: Number(pending),
  };
}

export async function status(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (values.help) return (out(help), 0);
  positionalArgs(positionals, [], 'agentstate status');
  const backend = await openBackend({ dataDir: values['data-dir'], backend: backendKind(values.backend), env: process.env, readOnly: true });
  let store: StateStore | undefined;
  try {
    // The servers without MONGODB_URI: the log's figures alone.
    store = backend.kind === 'servers' && !process.env.MONGODB_URI ? undefined : await openStoreOnly(backend.kind, values['data-dir'], process.env, 'read the store');
    const report = await statusReport(backend, store);
    if (values.json) out(JSON.stringify(report, null, 2));
    else {
      out(`backend    ${report.location}`);
      out(`agents     ${report.agents}`);
      out(`events     ${report.events}`);
      out(`rejected   ${report.rejected}`);
      out(`snapshots  ${report.snapshots}`);
      if (report.projectedAgents === null) out('projected  no state store yet (run the projector, or agentstate start)');
      out(`max version ${report.maxVersion}`);
      out(`log        ${report.logRecords} records, ${report.pendingRecords} not projected yet`);
    }
    return 0;
  } finally {
    await store?.close();
    await backend.close();
  }
}
