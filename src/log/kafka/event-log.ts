import { CompressionTypes, Partitioners, type Admin, type Kafka, type Producer, type PartitionMetadata } from 'kafkajs';
import type { Logger } from 'pino';
import { ClosedError, ConflictError, NotFoundError, UnavailableError } from '../../errors.js';
import { kafkaCall } from './errors.js';
import { checkConsumeOptions } from '../consume-options.js';
import type { AppendResult, ConsumeOptions, Consumer, EventLog, FetchResult, LogRecord, ResetTarget, StoredRecord, TopicCheck, TopicDescription, TopicSpec } from '../port.js';
import { createKafka, type KafkaConnectionOptions } from './connection.js';
import { PartitionReader } from './partition-reader.js';
import { checkTopic, createSpec, describeTopics } from './topics.js';
import { runConsumer } from './consumer.js';

export interface KafkaEventLogOptions extends Partial<KafkaConnectionOptions> {
  /** A client the caller owns. Else one is built from `brokers`. */
  kafka?: Kafka;
  /** Batch compression. @default 'lz4' */
  compression?: 'lz4' | 'gzip' | 'none';
  logger?: Logger;
}

const COMPRESSION = { lz4: CompressionTypes.LZ4, gzip: CompressionTypes.GZIP, none: CompressionTypes.None } as const;

/**
 * EventLog on Apache Kafka. The producer is idempotent with acks=all and one
 * request in flight, so retries neither duplicate nor reorder a key's records
 * (KIP-98 idempotence; DESIGN.md Invariant 1).
 */
export class KafkaEventLog implements EventLog {
  readonly kafka: Kafka;
  private readonly compression: CompressionTypes;
  private readonly logger: Logger | undefined;
  private admin: Admin | undefined;
  private producer: Producer | undefined;
  private replacing: Promise<void> | undefined;
  private connecting: Promise<void> | undefined;
  private offsetsQueue: Promise<unknown> = Promise.resolve();
  /**
   * Admin calls in flight. close() waits for them before disconnecting: kafkajs
   * retries a call (an unknown topic, ~15 s) and its retry reconnects the
   * admin after a disconnect, leaving a socket that kept the process alive
   * after `agentstate status` had printed its error (issue 12 §1).
   */
  private readonly adminCalls = new Set<Promise<unknown>>();
  private readonly reader: PartitionReader;
  /** Per topic, the partition list the partitioner is given: built once, not per record (issue 10's write path). */
  private readonly partitionMeta = new Map<string, PartitionMetadata[]>();
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly consumers = new Set<Consumer>();
  private closed = false;

  constructor(options: KafkaEventLogOptions) {
    this.kafka = options.kafka ?? createKafka({ brokers: options.brokers ?? [], ...options });
    this.compression = COMPRESSION[options.compression ?? 'lz4'];
    this.logger = options.logger;
    this.reader = new PartitionReader(this.kafka);
  }

  private async connect(): Promise<void> {
    if (this.closed) throw new ClosedError('the Kafka event log');
    this.connecting ??= kafkaCall('connect', async () => {
      const admin = this.kafka.admin();
      const producer = this.newProducer();
      await Promise.all([admin.connect(), producer.connect()]);
      this.admin = admin;
      this.producer = producer;
    }).catch((err: unknown) => {
      // A failed connect is retried by the next call, not remembered for good.
      this.connecting = undefined;
      throw err;
    });
    await this.connecting;
  }

  private newProducer(): Producer {
    return this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  }

  /**
   * After a broker restart the idempotent producer's sequence numbers can
   * disagree with what the broker kept, and kafkajs then fails every later
   * send with OUT_OF_ORDER_SEQUENCE_NUMBER (seen in the broker-kill test: a
   * writer that never wrote again). A new producer gets a new producer id and
   * starts its sequences afresh. The failed send's outcome stays unknown to
   * the caller (the writer settles it by reading the log), and a batch the
   * old producer had retried is at worst in the log twice, which every
   * reader rejects as a duplicate.
   */
  private replaceProducer(): Promise<void> {
    this.replacing ??= (async () => {
      const old = this.producer;
      const fresh = this.newProducer();
      await kafkaCall('connect a new producer', () => fresh.connect());
      this.producer = fresh;
      this.logger?.warn('Kafka refused the producer state after a broker restart (out-of-order sequence); writing with a new producer id');
      await old?.disconnect().catch(() => undefined);
    })().finally(() => (this.replacing = undefined));
    return this.replacing;
  }

  async setup(topics: TopicSpec[]): Promise<TopicCheck[]> {
    await this.connect();
    const admin = this.admin!;
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.name));
    const created = new Set<string>();
    if (missing.length > 0) {
      // kafkajs's wait for leaders gives up when a just-created topic answers
      // UNKNOWN_TOPIC_OR_PARTITION for a moment (seen in CI); creating again is
      // then "already exists" (false), and the offsets below wait for leaders.
      await whenRetriable(() => admin.createTopics({ topics: missing.map(createSpec), waitForLeaders: true }));
      for (const t of missing) created.add(t.name);
      // Leaders are elected, but a fresh broker may not serve offsets yet.
      for (const t of missing) await whenRetriable(() => admin.fetchTopicOffsets(t.name), 40, isKafkajsOffsetsBug);
    }
    const out: TopicCheck[] = [];
    for (const spec of topics) {
      if (created.has(spec.name)) out.push({ name: spec.name, status: 'created', problems: [] });
      else out.push(await checkTopic(admin, spec));
    }
    return out;
  }

  async describeTopics(names: string[]): Promise<TopicDescription[]> {
    await this.connect();
    return describeTopics(this.admin!, names);
  }

  async append(topic: string, records: LogRecord[]): Promise<AppendResult[]> {
    if (records.length === 0) return [];
    await this.connect();
    const meta = this.partitionMeta.get(topic);
    // Known topics are partitioned synchronously: no promise per record on the write path.
    const partitions = meta ? records.map((r) => this.partitionOf(topic, meta, r.key)) : await Promise.all(records.map((r) => this.partitionFor(topic, r.key)));
    const bytes = records.reduce((n, r) => n + (r.value?.length ?? 0) + r.key.length, 0);
    if (this.replacing) await this.replacing;
    const producer = this.producer!;
    const metadata = await kafkaCall(
      `append to ${topic}`,
      () =>
        producer.send({
          topic,
          acks: -1,
          compression: this.compression,
          messages: records.map((r, i) => ({
            key: r.key,
            value: r.value,
            partition: partitions[i]!,
            ...(r.headers ? { headers: r.headers } : {}),
            ...(r.timestamp !== undefined ? { timestamp: String(r.timestamp) } : {}),
          })),
        }),
      bytes,
    ).catch(async (err: unknown) => {
      if (producerStateLost(err) && this.producer === producer) await this.replaceProducer().catch(() => undefined);
      throw err;
    });
    // One send = one batch per partition, so offsets within a partition are
    // baseOffset, baseOffset+1, ... in input order.
    const next = new Map<number, bigint>();
    for (const m of metadata) next.set(m.partition, BigInt(m.baseOffset ?? m.offset ?? '0'));
    return records.map((_, i) => {
      const partition = partitions[i]!;
      const offset = next.get(partition);
      // The batch may be written: a blind retry could double it, so not retryable.
      if (offset === undefined) throw new UnavailableError(`Kafka (its produce answer named no offset for ${topic}/${partition})`, { retryable: false });
      next.set(partition, offset + 1n);
      return { topic, partition, offset: offset.toString() };
    });
  }

  async partitionFor(topic: string, key: string): Promise<number> {
    let meta = this.partitionMeta.get(topic);
    if (meta === undefined) {
      await this.connect();
      const answer = await kafkaCall(`metadata of topic ${topic}`, () => this.admin!.fetchTopicMetadata({ topics: [topic] }));
      const count = answer.topics[0]?.partitions.length ?? 0;
      if (count === 0) throw new NotFoundError(`topic ${topic}`);
      meta = partitionList(count);
      this.partitionMeta.set(topic, meta);
    }
    return this.partitionOf(topic, meta, key);
  }

  /** The default partitioner's choice (murmur2 of the key, as Kafka's Java client), on the topic's cached partition list. */
  private partitionOf(topic: string, partitionMetadata: PartitionMetadata[], key: string): number {
    return this.partitioner({ topic, partitionMetadata, message: { key, value: null } });
  }

  /** Topics seen to exist: checked once per process. */
  private readonly topicsSeen = new Set<string>();

  /**
   * A missing topic fails at once with AS_NOT_FOUND: kafkajs retries an
   * offsets request for an unknown topic for ~15 s before it gives up.
   */
  private async knownTopic(topic: string): Promise<void> {
    if (this.topicsSeen.has(topic)) return;
    const topics = await kafkaCall('list topics', () => this.admin!.listTopics());
    for (const t of topics) this.topicsSeen.add(t);
    if (!this.topicsSeen.has(topic)) throw new NotFoundError(`topic ${topic} (create the topics with agentstate topics)`);
  }

  private tracked<T>(call: Promise<T>): Promise<T> {
    this.adminCalls.add(call);
    void call.finally(() => this.adminCalls.delete(call)).catch(() => undefined);
    return call;
  }

  async identity(): Promise<string> {
    await this.connect();
    const { clusterId } = await kafkaCall('describe cluster', () => this.admin!.describeCluster());
    return `kafka:${clusterId}`;
  }

  async endOffsets(topic: string): Promise<Record<number, string>> {
    if (this.closed) throw new ClosedError('the Kafka event log');
    // A missing topic fails at once (checked once per topic, as topicOffsets does): the reader's
    // cluster would retry an unknown topic for seconds and keep a closing process alive.
    if (!this.topicsSeen.has(topic)) {
      await this.connect();
      await this.knownTopic(topic);
    }
    // One round trip (latest only), not the admin's two: on every scoped write's decision path (issue 10).
    return this.tracked(kafkaCall(`offsets of ${topic}`, () => whenRetriable(() => this.reader.latestOffsets(topic), 40, isKafkajsOffsetsBug)));
  }

  async startOffsets(topic: string): Promise<Record<number, string>> {
    const offsets = await this.topicOffsets(topic);
    return Object.fromEntries(offsets.map((o) => [o.partition, o.low]));
  }

  async brokerCount(): Promise<number> {
    await this.connect();
    const { brokers } = await this.tracked(kafkaCall('describe cluster', () => this.admin!.describeCluster()));
    return brokers.length;
  }

  async offsetsAtTime(topic: string, timestamp: number): Promise<Record<number, string>> {
    await this.connect();
    await this.knownTopic(topic);
    // kafkajs answers a partition with no record that late by its high watermark.
    const offsets = await this.tracked(kafkaCall(`offsets of ${topic} at ${new Date(timestamp).toISOString()}`, () => this.admin!.fetchTopicOffsetsByTimestamp(topic, timestamp)));
    return Object.fromEntries(offsets.map((o) => [o.partition, o.offset]));
  }

  async deleteBefore(topic: string, offsets: Record<number, string>): Promise<void> {
    const partitions = Object.entries(offsets).map(([p, offset]) => ({ partition: Number(p), offset }));
    if (partitions.length === 0) return;
    await this.connect();
    await this.knownTopic(topic);
    await this.tracked(kafkaCall(`delete records of ${topic}`, () => this.admin!.deleteTopicRecords({ topic, partitions })));
  }

  /**
   * kafkajs's `fetchTopicOffsets`, one call at a time: concurrent calls on one
   * admin can get an empty list-offsets answer and fail with a TypeError
   * inside kafkajs (tulios/kafkajs#461, seen here when `lag()` asked for start
   * and end offsets together). That TypeError is retried like a retriable error.
   */
  private topicOffsets(topic: string): Promise<Array<{ partition: number; high: string; low: string }>> {
    const run = async (): Promise<Array<{ partition: number; high: string; low: string }>> => {
      await this.connect();
      await this.knownTopic(topic);
      return kafkaCall(`offsets of ${topic}`, () => whenRetriable(() => this.admin!.fetchTopicOffsets(topic), 40, isKafkajsOffsetsBug));
    };
    const next = this.offsetsQueue.then(run, run);
    this.offsetsQueue = next.catch(() => undefined);
    return this.tracked(next);
  }

  read(topic: string, partition: number, fromOffset: string, untilOffset: string): Promise<StoredRecord[]> {
    if (this.closed) return Promise.reject(new ClosedError('the Kafka event log'));
    return kafkaCall(`read ${topic}/${partition}`, () => this.reader.read(topic, partition, fromOffset, untilOffset));
  }

  fetch(topic: string, from: Record<number, string>, maxWaitMs: number): Promise<FetchResult> {
    if (this.closed) return Promise.reject(new ClosedError('the Kafka event log'));
    return kafkaCall(`fetch ${topic}`, () => this.reader.fetch(topic, from, maxWaitMs));
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    if (this.closed) throw new ClosedError('the Kafka event log');
    checkConsumeOptions(options);
    const consumer = await kafkaCall(`consume ${options.topics.join(',')}`, () => runConsumer(this.kafka, options, this.logger));
    this.consumers.add(consumer);
    void consumer.done.finally(() => this.consumers.delete(consumer)).catch(() => undefined);
    return consumer;
  }

  async committedOffsets(group: string, topic: string): Promise<Record<number, string>> {
    await this.connect();
    const res = await this.tracked(kafkaCall(`committed offsets of ${group}`, () => this.admin!.fetchOffsets({ groupId: group, topics: [topic] })));
    const out: Record<number, string> = {};
    for (const p of res[0]?.partitions ?? []) if (p.offset !== '-1') out[p.partition] = p.offset;
    return out;
  }

  async resetGroup(group: string, topic: string, target: ResetTarget): Promise<Record<number, string>> {
    await this.connect();
    const admin = this.admin!;
    const { groups } = await admin.describeGroups([group]);
    const g = groups[0];
    if (g && g.members.length > 0) {
      throw new ConflictError(`consumer group ${group} has ${g.members.length} active member(s) (state ${g.state}); stop them before resetting offsets`);
    }
    let partitions: Array<{ partition: number; offset: string }>;
    const offsets = await admin.fetchTopicOffsets(topic);
    switch (target.to) {
      case 'earliest':
        partitions = offsets.map((o) => ({ partition: o.partition, offset: o.low }));
        break;
      case 'latest':
        partitions = offsets.map((o) => ({ partition: o.partition, offset: o.high }));
        break;
      case 'timestamp': {
        const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, target.timestamp);
        // -1 means "no record at or after the timestamp": start at the end.
        partitions = byTime.map((o) => ({
          partition: o.partition,
          offset: o.offset === '-1' ? offsets.find((x) => x.partition === o.partition)!.high : o.offset,
        }));
        break;
      }
      case 'offsets':
        partitions = Object.entries(target.offsets).map(([p, offset]) => ({ partition: Number(p), offset }));
        break;
    }
    await admin.setOffsets({ groupId: group, topic, partitions });
    return Object.fromEntries(partitions.map((p) => [p.partition, p.offset]));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.consumers].map((c) => c.stop()));
    await this.reader.close().catch(() => undefined);
    await Promise.allSettled([...this.adminCalls]);
    if (this.connecting) {
      await this.connecting.catch(() => undefined);
      await this.replacing?.catch(() => undefined);
      await Promise.allSettled([this.producer?.disconnect(), this.admin?.disconnect()]);
    }
  }
}

/**
 * kafkajs's admin does not retry some retriable broker answers (NOT_LEADER
 * right after a topic is created or a broker restarts); retry them here, briefly.
 */
async function whenRetriable<T>(op: () => Promise<T>, attempts = 40, alsoRetry: (err: unknown) => boolean = () => false): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await op();
    } catch (err) {
      const retriable = (err as { retriable?: boolean }).retriable === true || alsoRetry(err);
      if (!retriable || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, Math.min(1000, 50 * i)));
    }
  }
}

/** The TypeError kafkajs's admin throws when a list-offsets answer comes back empty. */
function isKafkajsOffsetsBug(err: unknown): boolean {
  return err instanceof TypeError && /partitions/.test(err.message);
}

/** The partition list kafkajs's partitioners take; only the ids matter to the default one. */
function partitionList(count: number): PartitionMetadata[] {
  return Array.from({ length: count }, (_, p) => ({ partitionId: p, leader: 0, replicas: [], isr: [], offlineReplicas: [], partitionErrorCode: 0 }));
}

/** Kafka's answers that the producer's id, epoch or sequence numbers are no longer what the broker holds. */
function producerStateLost(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    const type = (e as { type?: unknown }).type;
    if (type === 'OUT_OF_ORDER_SEQUENCE_NUMBER' || type === 'UNKNOWN_PRODUCER_ID' || type === 'INVALID_PRODUCER_EPOCH') return true;
    if (/OUT_OF_ORDER_SEQUENCE_NUMBER|UNKNOWN_PRODUCER_ID|INVALID_PRODUCER_EPOCH/.test(e.message)) return true;
  }
  return false;
}
