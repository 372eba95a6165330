import type { BlobStore } from '../blob/port.js';
import { parseJson } from '../domain/json.js';
import type { EventLog, TopicSpec } from '../log/port.js';
import { topicNames, topicSpecs, type TopicNames } from '../log/topics.js';

/**
 * The topic configurations' part of a backup (issue 14: "the topic
 * configurations (partitions, retention, cleanup policy, max message
 * bytes)"): one JSON object naming each topic of the prefix by its role
 * (`events`, `state`, ...), so a restore under another prefix recreates the
 * same layout. Rewritten only when a topic changed.
 */
export const TOPICS_KEY = 'backup/topics/topics.json';
const FORMAT = 'agentstate.backup.topics/1';

/** One topic as the backup holds it. */
export interface ArchivedTopic {
  /** The topic's role: its name without the prefix. */
  role: keyof TopicNames;
  name: string;
  partitions: number;
  replicationFactor: number;
  compacted: boolean;
  retentionMs: number;
  /** As the log described them: `cleanup.policy`, `retention.ms`, `max.message.bytes`, ... */
  configs: Record<string, string>;
}

export interface ArchivedTopics {
  format: typeof FORMAT;
  /** The source's topic prefix. */
  prefix: string;
  topics: ArchivedTopic[];
}

/** Archive side: describes the prefix's topics and writes the object when it differs from the backup's copy. */
export class TopicArchive {
  private written: string | undefined;

  constructor(
    private readonly blobs: BlobStore,
    private readonly log: Pick<EventLog, 'describeTopics'>,
    private readonly prefix: string,
  ) {}

  /** Returns the topics recorded; 0 when the log cannot describe its topics. */
  async sync(): Promise<number> {
    if (!this.log.describeTopics) return 0;
    const names = topicNames(this.prefix);
    const roles = Object.keys(names) as (keyof TopicNames)[];
    const described = await this.log.describeTopics(roles.map((r) => names[r]));
    const topics: ArchivedTopic[] = described.map((d) => ({
      role: roles.find((r) => names[r] === d.name)!,
      name: d.name,
      partitions: d.partitions,
      replicationFactor: d.replicationFactor ?? 1,
      compacted: d.compacted,
      retentionMs: d.retentionMs ?? -1,
      configs: Object.fromEntries(Object.entries(d.configs).sort(([a], [b]) => a.localeCompare(b))),
    }));
    const json = JSON.stringify({ format: FORMAT, prefix: this.prefix, topics } satisfies ArchivedTopics);
    if (this.written === undefined) this.written = (await this.blobs.get(TOPICS_KEY))?.toString('utf8') ?? '';
    if (json !== this.written && topics.length > 0) {
      await this.blobs.put(TOPICS_KEY, Buffer.from(json), { contentType: 'application/json' });
      this.written = json;
    }
    return topics.length;
  }
}

/** The backup's topic configurations, if it holds them. */
export async function readArchivedTopics(blobs: BlobStore): Promise<ArchivedTopics | undefined> {
  const bytes = await blobs.get(TOPICS_KEY);
  if (!bytes) return undefined;
  const doc = parseJson(bytes.toString('utf8'), TOPICS_KEY) as unknown as ArchivedTopics;
  return doc.format === FORMAT ? doc : undefined;
}

/**
 * The topics a restore creates under `prefix`: the default layout, each topic
 * replaced by the backup's record of it when there is one (same partitions,
 * cleanup policy, retention, other configs). The events topic always gets
 * `eventsPartitions` (what the manifests say), whatever else is recorded.
 */
export function restoredTopicSpecs(archived: ArchivedTopics | undefined, prefix: string, eventsPartitions: number, replication: ReplicationChoice = {}): { specs: TopicSpec[]; lowered: LoweredReplication[] } {
  const names = topicNames(prefix);
  const lowered: LoweredReplication[] = [];
  const specs = topicSpecs({ prefix, partitions: eventsPartitions }).map((spec): TopicSpec => {
    const role = (Object.keys(names) as (keyof TopicNames)[]).find((r) => names[r] === spec.name);
    const t = archived?.topics.find((a) => a.role === role);
    const recorded = t?.replicationFactor ?? spec.replicationFactor;
    let rf = replication.replicationFactor ?? recorded;
    if (rf !== undefined && replication.brokers !== undefined && rf > replication.brokers) rf = replication.brokers;
    if (rf !== recorded && rf !== undefined) lowered.push({ topic: spec.name, recorded: recorded ?? 0, used: rf });
    const configs = { ...(t?.configs ?? spec.configs ?? {}) };
    // A min.insync.replicas above the replication factor would refuse every acks=all write.
    const minIsr = configs['min.insync.replicas'];
    if (rf !== undefined && minIsr !== undefined && Number(minIsr) > rf) configs['min.insync.replicas'] = String(rf);
    const base: TopicSpec = t ? { name: spec.name, partitions: role === 'events' ? eventsPartitions : t.partitions, compacted: t.compacted, retentionMs: t.retentionMs } : { ...spec };
    if (rf !== undefined) base.replicationFactor = rf;
    if (Object.keys(configs).length > 0) base.configs = configs;
    return base;
  });
  return { specs, lowered };
}

/** How a restore sets replication: an explicit factor, and the target's broker count (a factor above it is lowered to it). */
export interface ReplicationChoice {
  /** @default each topic's recorded factor */
  replicationFactor?: number;
  brokers?: number;
}

/** A topic created with another replication factor than the backup recorded for it. */
export interface LoweredReplication {
  topic: string;
  recorded: number;
  used: number;
}
