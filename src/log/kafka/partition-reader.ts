import type { Kafka } from 'kafkajs';
import type { FetchResult, StoredRecord } from '../port.js';

/**
 * Reads an offset range of one partition with plain Fetch requests, without a
 * consumer group. kafkajs has no public "assign and fetch" API and a group join
 * costs about a second, too slow for catching a writer up to the head on
 * acquire. kafkajs 2.2.4 is the final release (pinned exactly), so its internal
 * cluster/broker objects used here will not move under us.
 */

interface KafkaMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  headers?: Record<string, string | Buffer | Array<string | Buffer> | undefined>;
  isControlRecord?: boolean;
}

interface FetchResponse {
  responses: Array<{
    topicName: string;
    partitions: Array<{ partition: number; errorCode: number; highWatermark: string; messages: KafkaMessage[] }>;
  }>;
}

interface Broker {
  fetch(request: unknown): Promise<FetchResponse>;
}

interface Cluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadata(): Promise<void>;
  refreshMetadataIfNecessary(): Promise<void>;
  findTopicPartitionMetadata(topic: string): Array<{ partitionId: number }>;
  fetchTopicsOffset(topics: Array<{ topic: string; fromBeginning: boolean; partitions: Array<{ partition: number }> }>): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(args: { nodeId: string }): Promise<Broker>;
}

type CreateCluster = (args: { allowAutoTopicCreation: boolean; isolationLevel: number; metadataMaxAge?: number }) => Cluster;

const READ_COMMITTED = 1;
const MAX_BYTES = 16 * 1024 * 1024;

export class PartitionReader {
  private cluster: Cluster | undefined;
  private connecting: Promise<Cluster> | undefined;

  constructor(private readonly kafka: Kafka) {}

  private connect(): Promise<Cluster> {
    if (this.cluster) return Promise.resolve(this.cluster);
    this.connecting ??= (async () => {
      const sym = Object.getOwnPropertySymbols(this.kafka).find((s) => s.description === 'private:Kafka:createCluster');
      if (!sym) throw new Error('kafkajs internals changed: no createCluster; pin kafkajs 2.2.4');
      const create = (this.kafka as unknown as Record<symbol, CreateCluster>)[sym]!;
      const cluster = create({ allowAutoTopicCreation: false, isolationLevel: READ_COMMITTED, metadataMaxAge: 60_000 });
      await cluster.connect();
      this.cluster = cluster;
      return cluster;
    })();
    return this.connecting;
  }

  /** One list-offsets call at a time (see EventLog.topicOffsets: kafkajs #461). */
  private latestQueue: Promise<unknown> = Promise.resolve();

  /**
   * Each partition's end offset: one ListOffsets (latest) round trip. The
   * admin's `fetchTopicOffsets` asks for the earliest offsets too, in a second
   * sequential round trip, which a writer deciding its writes from the claim
   * feed's end does not need (issue 10).
   */
  latestOffsets(topic: string): Promise<Record<number, string>> {
    const run = async (): Promise<Record<number, string>> => {
      const cluster = await this.connect();
      await cluster.addTargetTopic(topic);
      await cluster.refreshMetadataIfNecessary();
      const partitions = cluster.findTopicPartitionMetadata(topic).map((p) => ({ partition: p.partitionId }));
      if (partitions.length === 0) {
        // Not in the metadata we hold (a topic created since): look once more.
        await cluster.refreshMetadata();
        partitions.push(...cluster.findTopicPartitionMetadata(topic).map((p) => ({ partition: p.partitionId })));
      }
      const [answer] = await cluster.fetchTopicsOffset([{ topic, fromBeginning: false, partitions }]);
      if (!answer || answer.partitions.length !== partitions.length) {
        throw Object.assign(new Error(`list-offsets of ${topic} answered ${answer?.partitions.length ?? 0} of ${partitions.length} partitions`), { retriable: true });
      }
      return Object.fromEntries(answer.partitions.map((p) => [p.partition, p.offset]));
    };
    const next = this.latestQueue.then(run, run);
    this.latestQueue = next.catch(() => undefined);
    return next;
  }

  /** Records of `topic`/`partition` with from <= offset < until, in order. */
  async read(topic: string, partition: number, fromOffset: string, untilOffset: string): Promise<StoredRecord[]> {
    const until = BigInt(untilOffset);
    let next = BigInt(fromOffset);
    const out: StoredRecord[] = [];
    if (next >= until) return out;
    const cluster = await this.connect();
    await cluster.addTargetTopic(topic);
    let refreshed = false;
    while (next < until) {
      const leaders = cluster.findLeaderForPartitions(topic, [partition]);
      const nodeId = Object.keys(leaders)[0];
      if (nodeId === undefined) throw new Error(`no leader for ${topic}/${partition}`);
      const broker = await cluster.findBroker({ nodeId });
      const response = await broker.fetch({
        replicaId: -1,
        isolationLevel: READ_COMMITTED,
        maxWaitTime: 0,
        minBytes: 1,
        maxBytes: MAX_BYTES,
        topics: [{ topic, partitions: [{ partition, fetchOffset: next.toString(), maxBytes: MAX_BYTES }] }],
      });
      const data = response.responses[0]?.partitions[0];
      if (!data) throw new Error(`empty fetch response for ${topic}/${partition}`);
      if (data.errorCode !== 0) {
        // NOT_LEADER (6) / UNKNOWN_TOPIC_OR_PARTITION (3): metadata is stale once.
        if (!refreshed) {
          refreshed = true;
          await cluster.refreshMetadata();
          continue;
        }
        throw new Error(`fetch ${topic}/${partition}@${next} failed with Kafka error code ${data.errorCode}`);
      }
      let advanced = false;
      for (const m of data.messages) {
        const offset = BigInt(m.offset);
        if (offset < next || m.isControlRecord) continue;
        if (offset >= until) break;
        out.push(toStored(topic, partition, m));
        next = offset + 1n;
        advanced = true;
      }
      if (!advanced) {
        // Nothing at or after `next` below the high watermark: compacted away or the range is past the end.
        if (BigInt(data.highWatermark) <= next) break;
        // Only control records / compacted gaps in this chunk: move past them.
        const last = data.messages.at(-1);
        if (!last) break;
        next = BigInt(last.offset) + 1n;
      }
    }
    return out;
  }

  /**
   * One Fetch per partition leader for all the given partitions, each from
   * its offset, waiting up to `maxWaitMs` on the broker for a first record
   * (Kafka's long poll: the answer comes as soon as one is there). A
   * partition the broker answers with an error is retried by the caller
   * after fresh metadata (a moved leader), like a failed read.
   */
  async fetch(topic: string, from: Record<number, string>, maxWaitMs: number): Promise<FetchResult> {
    const next: Record<number, string> = { ...from };
    const records: StoredRecord[] = [];
    const partitions = Object.keys(from).map(Number);
    if (partitions.length === 0) return { records, next };
    const cluster = await this.connect();
    await cluster.addTargetTopic(topic);
    const leaders = cluster.findLeaderForPartitions(topic, partitions);
    const led = new Set(Object.values(leaders).flat());
    const failed: string[] = partitions.filter((p) => !led.has(p)).map((p) => `${p}: no leader`);
    await Promise.all(
      Object.entries(leaders).map(async ([nodeId, parts]) => {
        const broker = await cluster.findBroker({ nodeId });
        const response = await broker.fetch({
          replicaId: -1,
          isolationLevel: READ_COMMITTED,
          maxWaitTime: maxWaitMs,
          minBytes: 1,
          maxBytes: MAX_BYTES,
          topics: [{ topic, partitions: parts.map((partition) => ({ partition, fetchOffset: from[partition]!, maxBytes: MAX_BYTES })) }],
        });
        for (const data of response.responses[0]?.partitions ?? []) {
          if (data.errorCode !== 0) {
            failed.push(`${data.partition}: Kafka error code ${data.errorCode}`);
            continue;
          }
          let at = BigInt(from[data.partition]!);
          for (const m of data.messages) {
            const offset = BigInt(m.offset);
            if (offset < at) continue;
            if (!m.isControlRecord) records.push(toStored(topic, data.partition, m));
            at = offset + 1n;
          }
          next[data.partition] = at.toString();
        }
      }),
    );
    if (failed.length > 0 && records.length === 0) {
      // NOT_LEADER, UNKNOWN_TOPIC_OR_PARTITION, a leader being elected: the next attempt uses fresh metadata.
      await cluster.refreshMetadata().catch(() => undefined);
      throw Object.assign(new Error(`fetch of ${topic} failed for partitions ${failed.join(', ')}`), { retriable: true });
    }
    return { records, next };
  }

  async close(): Promise<void> {
    const c = this.cluster;
    this.cluster = undefined;
    this.connecting = undefined;
    await c?.disconnect();
  }
}

/** Converts a kafkajs message to the port's record shape. */
export function toStored(topic: string, partition: number, m: KafkaMessage): StoredRecord {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    if (v === undefined) continue;
    const last = Array.isArray(v) ? v[v.length - 1] : v;
    if (last !== undefined) headers[k] = typeof last === 'string' ? last : last.toString('utf8');
  }
  return {
    topic,
    partition,
    offset: m.offset,
    key: m.key ? m.key.toString('utf8') : '',
    value: m.value,
    headers,
    timestamp: Number(m.timestamp),
  };
}
