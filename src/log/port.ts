/**
 * The event-log port: an append-only, partitioned, keyed log with consumer
 * groups, as Kafka provides it. Adapters: Kafka (`KafkaEventLog`) and SQLite
 * (embedded profile). One contract suite (test/contract/log) runs against both.
 *
 * Offsets are decimal strings of 64-bit integers, never lossy numbers
 * (STYLE.md habit 6).
 */

/** A record to append. `key` picks the partition, so one key's records are totally ordered. */
export interface LogRecord {
  key: string;
  /** null = tombstone (meaningful on compacted topics). */
  value: Buffer | null;
  headers?: Record<string, string>;
  /** Epoch milliseconds; the log assigns the append time when omitted. */
  timestamp?: number;
}

/** A record as stored, with its position. */
export interface StoredRecord {
  topic: string;
  partition: number;
  /** Decimal string of a 64-bit offset. */
  offset: string;
  key: string;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: number;
}

export interface AppendResult {
  topic: string;
  partition: number;
  offset: string;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  /** Ignored by single-node adapters. @default 1 */
  replicationFactor?: number;
  /** `cleanup.policy=compact`: only the latest record per key is guaranteed to be kept. */
  compacted: boolean;
  /** Retention in ms; -1 keeps everything. @default -1 */
  retentionMs?: number;
  /**
   * Further topic configs applied when the topic is created (e.g.
   * `max.message.bytes`, `retention.bytes`); Kafka only, never altered on an
   * existing topic. A restore recreates topics with what the backup recorded.
   * @default {}
   */
  configs?: Record<string, string>;
}

/** An existing topic as the log describes it (what a backup records of it). */
export interface TopicDescription extends TopicSpec {
  /** Every config the adapter reports for the topic, `cleanup.policy` and `retention.ms` included. */
  configs: Record<string, string>;
}

/** What `setup` found for one topic. */
export interface TopicCheck {
  name: string;
  status: 'created' | 'ok' | 'mismatch';
  /** For `mismatch`: what differs (e.g. "cleanup.policy is delete, expected compact"). */
  problems: string[];
}

/** Where a consumer group starts, or where `resetGroup` moves it. */
export type ResetTarget =
  | { to: 'earliest' }
  | { to: 'latest' }
  | { to: 'timestamp'; timestamp: number }
  /** Explicit next offsets per partition. */
  | { to: 'offsets'; offsets: Record<number, string> };

/** A batch of records from one partition, in offset order. */
export interface ConsumedBatch {
  topic: string;
  partition: number;
  records: StoredRecord[];
  /** The partition's end offset (next offset to be written) when the batch was fetched; lag = highWatermark - last offset - 1. */
  highWatermark: string;
}

export interface ConsumeOptions {
  group: string;
  topics: string[];
  /**
   * Called for each batch; the group's offset for the partition is committed
   * only after the returned promise resolves (DESIGN.md Invariant 4). A throw
   * stops the consumer without committing that batch.
   */
  handler: (batch: ConsumedBatch) => Promise<void>;
  /** Where a group with no committed offset starts. @default earliest */
  fromBeginning?: boolean;
  /** Aborting stops the consumer after the batch in hand is handled and committed. */
  signal?: AbortSignal;
  /** @default 500 */
  maxBatchRecords?: number;
  /**
   * How long the group waits for a silent member (e.g. a SIGKILLed process)
   * before reassigning its partitions (Kafka's `session.timeout.ms`; the
   * embedded log judges its member rows by it).
   * @default 30000 on Kafka; the SQLite log's `sessionTimeoutMs` option (10000)
   */
  sessionTimeoutMs?: number;
  /**
   * How many partitions' batches the handler may be given at once (each
   * partition's batches still arrive one at a time, in order). Ignored by
   * adapters that deliver one batch at a time. @default 1
   */
  partitionsConcurrently?: number;
}

/** What one {@link EventLog.fetch} got. */
export interface FetchResult {
  records: StoredRecord[];
  /** Per requested partition, the offset to fetch from next (unchanged when nothing was there). */
  next: Record<number, string>;
}

/** A running consumer. `done` settles when it stops (rejects if the handler threw). */
export interface Consumer {
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export interface EventLog {
  /** Creates missing topics; reports existing ones whose settings differ. Idempotent. */
  setup(topics: TopicSpec[]): Promise<TopicCheck[]>;
  /** Describes the named topics that exist (partitions, replication, cleanup policy, retention, other configs); missing names are left out. */
  describeTopics?(names: string[]): Promise<TopicDescription[]>;
  /**
   * Appends records durably (Kafka: idempotent producer, acks=all) and returns
   * their positions in input order. Records with the same key keep their
   * input order.
   */
  append(topic: string, records: LogRecord[]): Promise<AppendResult[]>;
  /** The partition a key goes to (same hash as Kafka's default partitioner). */
  partitionFor(topic: string, key: string): Promise<number>;
  /** Next offset to be written, per partition. */
  endOffsets(topic: string): Promise<Record<number, string>>;
  /** Earliest retained offset, per partition. */
  startOffsets(topic: string): Promise<Record<number, string>>;
  /** How many brokers the cluster has (Kafka), for a restore onto a smaller cluster; undefined for a log without replication. */
  brokerCount?(): Promise<number>;
  /**
   * Per partition, the first offset whose record's timestamp is at or after
   * `timestamp` (ms), or the end offset when there is none: every record
   * below it is older than `timestamp`.
   */
  offsetsAtTime(topic: string, timestamp: number): Promise<Record<number, string>>;
  /**
   * Deletes each named partition's records below the given offset and moves
   * its start offset there (Kafka's DeleteRecords). An offset at or below the
   * current start deletes nothing; one past the end is refused.
   */
  deleteBefore(topic: string, offsets: Record<number, string>): Promise<void>;
  /**
   * Reads one partition from `fromOffset` up to (not including) `untilOffset`,
   * without a consumer group. Used to catch up a writer to the head.
   */
  read(topic: string, partition: number, fromOffset: string, untilOffset: string): Promise<StoredRecord[]>;
  /**
   * Follows partitions without a consumer group (assign and seek): returns
   * the records at or after each given partition's offset, per partition in
   * offset order (possibly only a first part of what is there), and where to
   * continue from (past records returned, control records and compacted
   * gaps). When nothing is there yet, waits up to `maxWaitMs` for a record
   * and returns none if none came. No join, no rebalance, no commits: what a
   * reader that keeps its own positions (the writer's fleet view) follows
   * the log with.
   */
  fetch(topic: string, from: Record<number, string>, maxWaitMs: number): Promise<FetchResult>;
  consume(options: ConsumeOptions): Promise<Consumer>;
  /** Committed next offsets of a group on a topic (absent partitions have none). */
  committedOffsets(group: string, topic: string): Promise<Record<number, string>>;
  /** Moves a group's offsets; refuses (AS_CONFLICT) while the group has active members. */
  resetGroup(group: string, topic: string, target: ResetTarget): Promise<Record<number, string>>;
  /**
   * Which log this is, so a store can tell the log it projects from another
   * one (issue 12 §3): `sqlite:<uuid>`, a UUID written when the log file is
   * created (an emptied file is a new log), or `kafka:<cluster id>` (kafkajs 2
   * does not speak Metadata v10, so topic ids are out of reach: a topic deleted
   * and recreated on the same cluster is caught by its offsets instead).
   */
  identity(): Promise<string>;
  /** Safe to call twice; never closes a client the caller passed in. */
  close(): Promise<void>;
}

/** A position in a topic (the events topic, for what the store and the state topic record). */
export interface LogPosition {
  partition: number;
  /** Decimal string of a 64-bit offset. */
  offset: string;
}
