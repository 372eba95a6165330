import { mkdirSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { JsonEventCodec, RegistryEventCodec, type EventCodec } from '../client/index.js';
import { RegistryCodec } from '../codec/index.js';
import type { EventLog } from '../log/port.js';
import { KafkaEventLog } from '../log/kafka/index.js';
import { SqliteEventLog } from '../log/sqlite/index.js';
import { topicNames, topicSpecs, type TopicNames } from '../log/topics.js';

/** Where the CLI's commands read and write: the embedded profile or real servers. */
export interface Backend {
  kind: 'embedded' | 'servers';
  /** Human-readable: "embedded (sqlite ./.agentstate/log.sqlite)" or "kafka 127.0.0.1:19092". */
  description: string;
  log: EventLog;
  codec: EventCodec;
  prefix: string;
  topics: TopicNames;
  /** Creates missing topics; returns the problems of existing mismatching ones. */
  setupTopics(): Promise<string[]>;
  close(): Promise<void>;
}

export interface BackendOptions {
  dataDir: string;
  /** 'auto' = servers when KAFKA_BROKERS is set, else embedded. */
  backend: 'auto' | 'embedded' | 'servers';
  env: NodeJS.ProcessEnv;
}

export async function openBackend(options: BackendOptions): Promise<Backend> {
  const { env } = options;
  const prefix = env.AGENTSTATE_TOPIC_PREFIX ?? 'agentstate.';
  const topics = topicNames(prefix);
  const useServers = options.backend === 'servers' || (options.backend === 'auto' && !!env.KAFKA_BROKERS);
  let log: EventLog;
  let codec: EventCodec;
  let description: string;
  let partitions: number;
  if (useServers) {
    if (!env.KAFKA_BROKERS) throw new Error('--backend servers needs KAFKA_BROKERS (e.g. eval "$(scripts/stack env)")');
    log = new KafkaEventLog({ brokers: env.KAFKA_BROKERS.split(',').map((s) => s.trim()), clientId: 'agentstate-cli' });
    codec = env.SCHEMA_REGISTRY_URL
      ? await RegistryEventCodec.create(new RegistryCodec({ url: env.SCHEMA_REGISTRY_URL }), topics.events)
      : new JsonEventCodec();
    description = `kafka ${env.KAFKA_BROKERS}${env.SCHEMA_REGISTRY_URL ? ` + registry ${env.SCHEMA_REGISTRY_URL}` : ''}`;
    partitions = 6;
  } else {
    const dir = resolve(options.dataDir);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'log.sqlite');
    log = new SqliteEventLog({ path: file });
    codec = new JsonEventCodec();
    description = `embedded (sqlite ${file})`;
    partitions = 4;
  }
  return {
    kind: useServers ? 'servers' : 'embedded',
    description,
    log,
    codec,
    prefix,
    topics,
    async setupTopics() {
      const checks = await log.setup(topicSpecs({ prefix, partitions }));
      return checks.filter((c) => c.status === 'mismatch').flatMap((c) => c.problems.map((p) => `${c.name}: ${p}`));
    },
    close: () => log.close(),
  };
}
