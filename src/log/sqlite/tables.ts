import type Database from 'better-sqlite3';
import { InvalidInputError, NotFoundError } from '../../errors.js';
import { kafkaPartition } from '../partitioner.js';
import type { AppendResult, LogRecord, StoredRecord, TopicCheck, TopicSpec } from '../port.js';
import { offsetString, toNumber } from './offsets.js';

/** A topic as stored. Settings never change after creation (setup reports mismatches instead). */
export interface TopicRow {
  id: number;
  name: string;
  partitions: number;
  compacted: boolean;
  retentionMs: number;
}

interface RawTopic {
  id: bigint;
  name: string;
  partitions: bigint;
  compacted: bigint;
  retention_ms: bigint;
}

interface RawRecord {
  part: bigint;
  off: bigint;
  key: string;
  value: Buffer | null;
  headers: string | null;
  timestamp: bigint;
}

/**
 * The SQL of the embedded log: topics, partitions, records and group offsets.
 * Synchronous (better-sqlite3); the EventLog class wraps it in promises.
 */
export class LogTables {
  private readonly topicCache = new Map<string, TopicRow>();
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      topic: db.prepare<[string], RawTopic>('SELECT id, name, partitions, compacted, retention_ms FROM topics WHERE name = ?'),
      topics: db.prepare<[], RawTopic>('SELECT id, name, partitions, compacted, retention_ms FROM topics ORDER BY name'),
      insertTopic: db.prepare<[string, number, number, number, number]>('INSERT INTO topics (name, partitions, compacted, retention_ms, created_at) VALUES (?, ?, ?, ?, ?)'),
      insertPartition: db.prepare<[bigint, number]>('INSERT INTO partitions (topic_id, part, start_offset, next_offset) VALUES (?, ?, 0, 0)'),
      partitions: db.prepare<[number], { part: bigint; start_offset: bigint; next_offset: bigint }>('SELECT part, start_offset, next_offset FROM partitions WHERE topic_id = ? ORDER BY part'),
      nextOffset: db.prepare<[number, number], { next_offset: bigint }>('SELECT next_offset FROM partitions WHERE topic_id = ? AND part = ?'),
      setNextOffset: db.prepare<[bigint, number, number]>('UPDATE partitions SET next_offset = ? WHERE topic_id = ? AND part = ?'),
      insertRecord: db.prepare<[number, number, bigint, string, Buffer | null, string | null, number, number]>(
        'INSERT INTO records (topic_id, part, off, key, value, headers, timestamp, appended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      range: db.prepare<[number, number, bigint, bigint, number], RawRecord>('SELECT part, off, key, value, headers, timestamp FROM records WHERE topic_id = ? AND part = ? AND off >= ? AND off < ? ORDER BY off LIMIT ?'),
      firstAtTime: db.prepare<[number, number, number], { off: bigint | null }>('SELECT min(off) AS off FROM records WHERE topic_id = ? AND part = ? AND timestamp >= ?'),
      committed: db.prepare<[string, number], { part: bigint; next_offset: bigint }>('SELECT part, next_offset FROM group_offsets WHERE group_name = ? AND topic_id = ? ORDER BY part'),
      commit: db.prepare<[string, number, number, bigint, number]>(
        `INSERT INTO group_offsets (group_name, topic_id, part, next_offset, committed_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (group_name, topic_id, part) DO UPDATE SET next_offset = excluded.next_offset, committed_at = excluded.committed_at`,
      ),
    };
  }

  /** Creates missing topics, compares existing ones; never alters an existing topic. */
  setup(specs: TopicSpec[]): TopicCheck[] {
    for (const spec of specs) validateSpec(spec);
    return this.db
      .transaction(() =>
        specs.map((spec): TopicCheck => {
          const retentionMs = spec.retentionMs ?? -1;
          const existing = this.findTopic(spec.name);
          if (existing) {
            const problems: string[] = [];
            if (existing.partitions !== spec.partitions) {
              problems.push(`has ${existing.partitions} partitions, expected ${spec.partitions}`);
            }
            if (existing.compacted !== spec.compacted) {
              problems.push(`cleanup.policy is ${policy(existing.compacted)}, expected ${policy(spec.compacted)}`);
            }
            if (existing.retentionMs !== retentionMs) {
              problems.push(`retention.ms is ${existing.retentionMs}, expected ${retentionMs}`);
            }
            return { name: spec.name, status: problems.length ? 'mismatch' : 'ok', problems };
          }
          const { lastInsertRowid } = this.stmts.insertTopic.run(spec.name, spec.partitions, spec.compacted ? 1 : 0, retentionMs, Date.now());
          for (let p = 0; p < spec.partitions; p++) this.stmts.insertPartition.run(BigInt(lastInsertRowid), p);
          return { name: spec.name, status: 'created', problems: [] };
        }),
      )
      .immediate();
  }

  findTopic(name: string): TopicRow | undefined {
    const cached = this.topicCache.get(name);
    if (cached) return cached;
    const raw = this.stmts.topic.get(name);
    if (!raw) return undefined;
    const row = topicRow(raw);
    this.topicCache.set(name, row);
    return row;
  }

  /** The topic, or NotFoundError (the embedded log never auto-creates topics). */
  topic(name: string): TopicRow {
    const row = this.findTopic(name);
    if (!row) throw new NotFoundError(`topic ${name}`);
    return row;
  }

  allTopics(): TopicRow[] {
    return this.stmts.topics.all().map(topicRow);
  }

  /**
   * Appends in one IMMEDIATE transaction: offsets are taken from
   * `partitions.next_offset` under the write lock, so two processes appending
   * to the same file still get contiguous, unique offsets.
   */
  append(topic: TopicRow, records: LogRecord[]): AppendResult[] {
    for (const r of records) validateRecord(r);
    const now = Date.now();
    return this.db
      .transaction(() => {
        const next = new Map<number, bigint>();
        const results: AppendResult[] = [];
        for (const r of records) {
          const part = kafkaPartition(r.key, topic.partitions);
          const off = next.get(part) ?? this.stmts.nextOffset.get(topic.id, part)!.next_offset;
          const headers = r.headers && Object.keys(r.headers).length > 0 ? JSON.stringify(r.headers) : null;
          const value = r.value === null ? null : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
          this.stmts.insertRecord.run(topic.id, part, off, r.key, value, headers, r.timestamp ?? now, now);
          next.set(part, off + 1n);
          results.push({ topic: topic.name, partition: part, offset: offsetString(off) });
        }
        for (const [part, off] of next) this.stmts.setNextOffset.run(off, topic.id, part);
        return results;
      })
      .immediate();
  }

  /** Start and end offsets of every partition. */
  bounds(topic: TopicRow): Array<{ partition: number; start: bigint; end: bigint }> {
    return this.stmts.partitions.all(topic.id).map((r) => ({
      partition: toNumber(r.part),
      start: r.start_offset,
      end: r.next_offset,
    }));
  }

  endOffset(topic: TopicRow, partition: number): bigint {
    return this.stmts.nextOffset.get(topic.id, partition)!.next_offset;
  }

  /** Records of one partition with from <= offset < until, at most `limit`, in offset order. */
  read(topic: TopicRow, partition: number, from: bigint, until: bigint, limit: number): StoredRecord[] {
    return this.stmts.range.all(topic.id, partition, from, until, limit).map((r) => ({
      topic: topic.name,
      partition: toNumber(r.part),
      offset: offsetString(r.off),
      key: r.key,
      value: r.value,
      headers: r.headers ? (JSON.parse(r.headers) as Record<string, string>) : {},
      timestamp: toNumber(r.timestamp),
    }));
  }

  /** First offset whose timestamp is >= `timestamp` (Kafka ListOffsets by time), else the end offset. */
  offsetForTime(topic: TopicRow, partition: number, timestamp: number): bigint {
    return this.stmts.firstAtTime.get(topic.id, partition, timestamp)?.off ?? this.endOffset(topic, partition);
  }

  committed(group: string, topic: TopicRow): Map<number, bigint> {
    return new Map(this.stmts.committed.all(group, topic.id).map((r) => [toNumber(r.part), r.next_offset]));
  }

  commit(group: string, topic: TopicRow, offsets: Map<number, bigint>): void {
    const now = Date.now();
    this.db
      .transaction(() => {
        for (const [part, off] of offsets) this.stmts.commit.run(group, topic.id, part, off, now);
      })
      .immediate();
  }
}

function topicRow(raw: RawTopic): TopicRow {
  return {
    id: toNumber(raw.id),
    name: raw.name,
    partitions: toNumber(raw.partitions),
    compacted: raw.compacted !== 0n,
    retentionMs: toNumber(raw.retention_ms),
  };
}

function policy(compacted: boolean): string {
  return compacted ? 'compact' : 'delete';
}

function invalid(message: string): InvalidInputError {
  return new InvalidInputError('log request', message);
}

function validateSpec(spec: TopicSpec): void {
  // Kafka's topic name rule, so a name that works here also works on a broker.
  if (!/^[a-zA-Z0-9._-]{1,249}$/.test(spec.name)) throw invalid(`topic name ${JSON.stringify(spec.name)} is not a legal Kafka topic name`);
  if (!Number.isInteger(spec.partitions) || spec.partitions < 1) throw invalid(`topic ${spec.name}: partitions must be a positive integer`);
  const retention = spec.retentionMs ?? -1;
  if (!Number.isInteger(retention) || retention < -1) throw invalid(`topic ${spec.name}: retentionMs must be -1 or a non-negative integer`);
}

function validateRecord(r: LogRecord): void {
  if (typeof r.key !== 'string') throw invalid('record key must be a string');
  if (r.value !== null && !(r.value instanceof Uint8Array)) throw invalid(`record ${r.key}: value must be a Buffer or null`);
  if (r.timestamp !== undefined && !Number.isSafeInteger(r.timestamp)) throw invalid(`record ${r.key}: timestamp must be an integer`);
  for (const [k, v] of Object.entries(r.headers ?? {})) {
    if (typeof v !== 'string') throw invalid(`record ${r.key}: header ${k} must be a string`);
  }
}
