import type { Admin, ITopicConfig } from 'kafkajs';

// TOPIC_RESOURCE; the enum is not an ESM-detectable export of kafkajs.
const TOPIC_RESOURCE = 2;
import type { TopicCheck, TopicDescription, TopicSpec } from '../port.js';

/** The topic configs a description (and so a backup) records; the rest are broker defaults. */
export const DESCRIBED_TOPIC_CONFIGS = ['cleanup.policy', 'retention.ms', 'retention.bytes', 'max.message.bytes', 'min.insync.replicas', 'message.timestamp.type', 'compression.type'] as const;

/** kafkajs createTopics entry for a spec. */
export function createSpec(spec: TopicSpec): ITopicConfig {
  return {
    topic: spec.name,
    numPartitions: spec.partitions,
    replicationFactor: spec.replicationFactor ?? 1,
    configEntries: [
      { name: 'cleanup.policy', value: spec.compacted ? 'compact' : 'delete' },
      { name: 'retention.ms', value: String(spec.retentionMs ?? -1) },
      ...Object.entries(spec.configs ?? {})
        .filter(([name]) => name !== 'cleanup.policy' && name !== 'retention.ms')
        .map(([name, value]) => ({ name, value })),
    ],
  };
}

/** Partitions, replication factor and {@link DESCRIBED_TOPIC_CONFIGS} of the named topics that exist. */
export async function describeTopics(admin: Admin, names: string[]): Promise<TopicDescription[]> {
  const existing = new Set(await admin.listTopics());
  const present = names.filter((n) => existing.has(n));
  if (present.length === 0) return [];
  const meta = await admin.fetchTopicMetadata({ topics: present });
  const described = await admin.describeConfigs({ includeSynonyms: false, resources: present.map((name) => ({ type: TOPIC_RESOURCE, name, configNames: [...DESCRIBED_TOPIC_CONFIGS] })) });
  return present.map((name) => {
    const t = meta.topics.find((m) => m.name === name);
    const entries = described.resources.find((r) => r.resourceName === name)?.configEntries ?? [];
    const configs: Record<string, string> = {};
    for (const e of entries) if (e.configValue !== null && e.configValue !== undefined) configs[e.configName] = e.configValue;
    const policy = configs['cleanup.policy'] ?? 'delete';
    return {
      name,
      partitions: t?.partitions.length ?? 0,
      replicationFactor: t?.partitions[0]?.replicas.length ?? 1,
      compacted: policy.split(',').includes('compact'),
      retentionMs: Number(configs['retention.ms'] ?? '-1'),
      configs,
    };
  });
}

/**
 * Compares an existing topic with its spec. A wrong cleanup policy is reported,
 * never silently used or changed: a compacted events topic would lose history
 * (DESIGN.md: the events topic is never compacted).
 */
export async function checkTopic(admin: Admin, spec: TopicSpec): Promise<TopicCheck> {
  const problems: string[] = [];
  const meta = await admin.fetchTopicMetadata({ topics: [spec.name] });
  const partitions = meta.topics[0]?.partitions.length ?? 0;
  if (partitions !== spec.partitions) problems.push(`has ${partitions} partitions, expected ${spec.partitions}`);
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: TOPIC_RESOURCE, name: spec.name, configNames: ['cleanup.policy', 'retention.ms'] }],
  });
  const entries = described.resources[0]?.configEntries ?? [];
  const policy = entries.find((e) => e.configName === 'cleanup.policy')?.configValue ?? 'delete';
  const wanted = spec.compacted ? 'compact' : 'delete';
  if (policy.split(',').sort().join(',') !== wanted) problems.push(`cleanup.policy is ${policy}, expected ${wanted}`);
  const retention = entries.find((e) => e.configName === 'retention.ms')?.configValue;
  const wantedRetention = String(spec.retentionMs ?? -1);
  if (!spec.compacted && retention !== undefined && retention !== wantedRetention) {
    problems.push(`retention.ms is ${retention}, expected ${wantedRetention}`);
  }
  return { name: spec.name, status: problems.length ? 'mismatch' : 'ok', problems };
}
