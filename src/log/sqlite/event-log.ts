import type Database from 'better-sqlite3';
import { checkConsumeOptions } from '../consume-options.js';
import { ClosedError, ConfigError, ConflictError, InvalidInputError, NotFoundError } from '../../errors.js';
import { kafkaPartition } from '../partitioner.js';
import type { AppendResult, ConsumeOptions, Consumer, EventLog, FetchResult, LogRecord, ResetTarget, StoredRecord, TopicCheck, TopicDescription, TopicSpec } from '../port.js';
import { applyRetention, compactTopic, deleteBefore, offsetsAtTime, type CompactionResult } from './compaction.js';
import { SqliteConsumer } from './consumer.js';
import { GroupMembership } from './members.js';
import { offsetString, parseOffset } from './offsets.js';
import { openLogDatabase } from './schema.js';
import { LogTables, type TopicRow } from './tables.js';

/** Records one fetch returns per partition, at most (the rest comes with the next fetch). */
const FETCH_MAX_RECORDS = 1000;

export interface SqliteEventLogOptions {
  /** Database file (created if missing), or `':memory:'` for tests. */
  path: string;
  /** How often an idle consumer looks for records appended by another process. @default 100 */
  pollIntervalMs?: number;
  /** How often a running consumer refreshes its membership row. @default 1000 */
  heartbeatIntervalMs?: number;
  /** A member row older than this is dead (Kafka `session.timeout.ms`), unless its consumer asked for its own `ConsumeOptions.sessionTimeoutMs`. @default 10000 */
  sessionTimeoutMs?: number;
  /** How long a tombstone stays after it became the latest record of its key (Kafka `delete.retention.ms`). @default 86400000 */
  tombstoneRetentionMs?: number;
  /** How long a write waits for another process's write lock (SQLite busy_timeout). @default 5000 */
  busyTimeoutMs?: number;
  /**
   * The caller only reads (the CLI's read-only commands): a file in a
   * directory this process may not write is read from a private copy
   * instead of failing (issue 12 §7).
   * @default false
   */
  readOnly?: boolean;
}

const DEFAULTS = {
  pollIntervalMs: 100,
  heartbeatIntervalMs: 1000,
  sessionTimeoutMs: 10_000,
  tombstoneRetentionMs: 24 * 60 * 60 * 1000,
  busyTimeoutMs: 5000,
} satisfies Omit<Required<SqliteEventLogOptions>, 'path' | 'readOnly'>;

/**
 * The EventLog port on one SQLite file (embedded profile, DESIGN.md Storage):
 * Kafka's model without a broker. Topics have partitions chosen by Kafka's
 * own partitioner, offsets are 64-bit and contiguous per partition, consumer
 * groups commit offsets after their handler, compacted topics are compacted
 * by `compact()`. Everything is in the file: reopening it gives the same
 * records, offsets and group positions.
 *
 * Appends are synchronous, fsynced SQLite transactions (WAL, synchronous=FULL):
 * when `append` resolves, the records survive a crash.
 */
export class SqliteEventLog implements EventLog {
  private readonly db: Database.Database;
  private readonly tables: LogTables;
  private readonly members: GroupMembership;
  private readonly settings: typeof DEFAULTS;
  private readonly consumers = new Set<SqliteConsumer>();
  private readonly appendWaiters = new Set<() => void>();
  private closed = false;

  constructor(options: SqliteEventLogOptions) {
    if (!options || typeof options.path !== 'string' || options.path === '') throw new ConfigError('path', 'a file path or ":memory:" is required');
    const settings = { ...DEFAULTS };
    for (const field of Object.keys(DEFAULTS) as Array<keyof typeof DEFAULTS>) {
      const value = options[field];
      if (value === undefined) continue;
      // Intervals of 0 would spin; retention and busy timeout may be 0.
      const min = field === 'tombstoneRetentionMs' || field === 'busyTimeoutMs' ? 0 : 1;
      if (!Number.isInteger(value) || value < min) throw new ConfigError(field, `must be an integer >= ${min} (milliseconds)`);
      settings[field] = value;
    }
    this.settings = settings;
    this.db = openLogDatabase({ path: options.path, busyTimeoutMs: settings.busyTimeoutMs, readOnly: options.readOnly === true });
    this.tables = new LogTables(this.db);
    this.members = new GroupMembership(this.db, settings.sessionTimeoutMs);
  }

  async setup(topics: TopicSpec[]): Promise<TopicCheck[]> {
    this.open();
    return this.tables.setup(topics);
  }

  async describeTopics(names: string[]): Promise<TopicDescription[]> {
    this.open();
    return names.flatMap((name) => {
      const t = this.tables.findTopic(name);
      if (!t) return [];
      const configs = { 'cleanup.policy': t.compacted ? 'compact' : 'delete', 'retention.ms': String(t.retentionMs) };
      return [{ name, partitions: t.partitions, replicationFactor: 1, compacted: t.compacted, retentionMs: t.retentionMs, configs }];
    });
  }

  async append(topic: string, records: LogRecord[]): Promise<AppendResult[]> {
    this.open();
    const results = this.tables.append(this.tables.topic(topic), records);
    if (results.length > 0) this.wakeConsumers();
    return results;
  }

  async partitionFor(topic: string, key: string): Promise<number> {
    this.open();
    return kafkaPartition(key, this.tables.topic(topic).partitions);
  }

  async endOffsets(topic: string): Promise<Record<number, string>> {
    this.open();
    return Object.fromEntries(this.tables.bounds(this.tables.topic(topic)).map((b) => [b.partition, offsetString(b.end)]));
  }

  async startOffsets(topic: string): Promise<Record<number, string>> {
    this.open();
    return Object.fromEntries(this.tables.bounds(this.tables.topic(topic)).map((b) => [b.partition, offsetString(b.start)]));
  }

  async offsetsAtTime(topic: string, timestamp: number): Promise<Record<number, string>> {
    this.open();
    return Object.fromEntries(offsetsAtTime(this.db, this.tables.topic(topic), timestamp).map((o, p) => [p, offsetString(o)]));
  }

  async deleteBefore(topic: string, offsets: Record<number, string>): Promise<void> {
    this.open();
    const parts = new Map(Object.entries(offsets).map(([p, o]) => [Number(p), parseOffset(o, 'offset')]));
    deleteBefore(this.db, this.tables.topic(topic), parts);
  }

  async read(topic: string, partition: number, fromOffset: string, untilOffset: string): Promise<StoredRecord[]> {
    this.open();
    const t = this.tables.topic(topic);
    checkPartition(t, partition);
    const from = parseOffset(fromOffset, 'fromOffset');
    const until = parseOffset(untilOffset, 'untilOffset');
    if (until <= from) return [];
    // Offsets are contiguous, so the range holds at most until - from records.
    return this.tables.read(t, partition, from, until, Number(until - from > 1_000_000_000n ? 1_000_000_000n : until - from));
  }

  async fetch(topic: string, from: Record<number, string>, maxWaitMs: number): Promise<FetchResult> {
    this.open();
    const t = this.tables.topic(topic);
    const positions = Object.entries(from).map(([p, o]) => {
      checkPartition(t, Number(p));
      return [Number(p), parseOffset(o, 'from offset')] as const;
    });
    const take = (): FetchResult => {
      const records: StoredRecord[] = [];
      const next: Record<number, string> = { ...from };
      for (const [p, at] of positions) {
        const end = this.tables.endOffset(t, p);
        if (end <= at) continue;
        const got = this.tables.read(t, p, at, end, FETCH_MAX_RECORDS);
        records.push(...got);
        // Past the records returned, or past a compacted gap up to the end.
        next[p] = got.length > 0 ? offsetString(BigInt(got.at(-1)!.offset) + 1n) : offsetString(end);
      }
      return { records, next };
    };
    const first = take();
    if (first.records.length > 0 || maxWaitMs <= 0) return first;
    await this.waitForAppend(maxWaitMs, new AbortController().signal);
    return this.closed ? first : take();
  }

  async identity(): Promise<string> {
    this.open();
    const row = this.db.prepare(`SELECT value FROM log_meta WHERE key = 'log_id'`).get() as { value: string };
    return `sqlite:${row.value}`;
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    this.open();
    checkConsumeOptions(options);
    const topics = options.topics.map((name) => this.tables.topic(name));
    const session = options.sessionTimeoutMs ?? this.settings.sessionTimeoutMs;
    const memberId = this.members.join(options.group, options.topics, session);
    const consumer = new SqliteConsumer(
      {
        tables: this.tables,
        members: this.members,
        waitForAppend: (ms, signal) => this.waitForAppend(ms, signal),
        pollIntervalMs: this.settings.pollIntervalMs,
        // At least three heartbeats per session, as Kafka advises (heartbeat.interval.ms <= session.timeout.ms / 3).
        heartbeatIntervalMs: Math.max(1, Math.min(this.settings.heartbeatIntervalMs, Math.floor(session / 3))),
        onStopped: (c) => this.consumers.delete(c),
      },
      options,
      topics,
      memberId,
    );
    this.consumers.add(consumer);
    return consumer;
  }

  async committedOffsets(group: string, topic: string): Promise<Record<number, string>> {
    this.open();
    const committed = this.tables.committed(group, this.tables.topic(topic));
    return Object.fromEntries([...committed].map(([p, o]) => [p, offsetString(o)]));
  }

  /**
   * Moves a group's committed offsets on one topic and returns them.
   * ConflictError while the group has a live consumer, in this process or
   * (by its heartbeat row) in another one: Kafka refuses the same.
   * For `offsets`, partitions not named keep their committed offset.
   */
  async resetGroup(group: string, topic: string, target: ResetTarget): Promise<Record<number, string>> {
    this.open();
    const t = this.tables.topic(topic);
    this.refuseLiveGroup(group);
    const bounds = this.tables.bounds(t);
    const offsets = new Map<number, bigint>();
    switch (target.to) {
      case 'earliest':
        for (const b of bounds) offsets.set(b.partition, b.start);
        break;
      case 'latest':
        for (const b of bounds) offsets.set(b.partition, b.end);
        break;
      case 'timestamp':
        if (!Number.isFinite(target.timestamp)) throw new InvalidInputError('resetGroup target', 'timestamp must be a number');
        for (const b of bounds) offsets.set(b.partition, this.tables.offsetForTime(t, b.partition, target.timestamp));
        break;
      case 'offsets':
        for (const [p, o] of Object.entries(target.offsets)) {
          const partition = Number(p);
          checkPartition(t, partition);
          offsets.set(partition, parseOffset(o, `offset of partition ${p}`));
        }
        break;
      default:
        throw new InvalidInputError('resetGroup target', `unknown target ${JSON.stringify(target)}`);
    }
    // Check and write under one write lock, so no consumer of another process joins in between.
    this.db
      .transaction(() => {
        this.refuseLiveGroup(group);
        this.tables.commit(group, t, offsets);
      })
      .immediate();
    return this.committedOffsets(group, topic);
  }

  private refuseLiveGroup(group: string): void {
    const live = this.members.liveMembers(group);
    if (live.length > 0) throw new ConflictError(`cannot reset consumer group ${group}: it has active members (${live.join(', ')})`);
  }

  /**
   * Compacts every compacted topic (or just `topic`) and applies time
   * retention; see compaction.ts for the rules. The embedded profile calls it
   * periodically; Kafka's log cleaner does this on its own.
   * @param now clock for tombstone and retention ages @default Date.now()
   */
  async compact(options: { topic?: string; now?: number } = {}): Promise<CompactionResult> {
    this.open();
    const now = options.now ?? Date.now();
    const topics = options.topic ? [this.tables.topic(options.topic)] : this.tables.allTopics();
    const total: CompactionResult = { superseded: 0, tombstones: 0, expired: 0 };
    for (const t of topics) {
      const r = compactTopic(this.db, t, now, this.settings.tombstoneRetentionMs);
      total.superseded += r.superseded;
      total.tombstones += r.tombstones;
      total.expired += applyRetention(this.db, t, now);
    }
    return total;
  }

  /** Stops every consumer (each finishes its batch in hand), then closes the file. Safe twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.consumers].map((c) => c.stop()));
    this.wakeConsumers();
    this.db.close();
  }

  private open(): void {
    if (this.closed) throw new ClosedError('the SQLite event log');
  }

  private wakeConsumers(): void {
    const waiters = [...this.appendWaiters];
    this.appendWaiters.clear();
    for (const w of waiters) w();
  }

  private waitForAppend(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.appendWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.appendWaiters.add(done);
    });
  }
}

function checkPartition(topic: TopicRow, partition: number): void {
  if (!Number.isInteger(partition) || partition < 0 || partition >= topic.partitions) {
    throw new NotFoundError(`partition ${partition} of topic ${topic.name}`);
  }
}
