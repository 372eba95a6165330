import { S3BlobStore } from '../../src/blob/s3.js';
import { RegistryEventCodec } from '../../src/client/index.js';
import { RegistryCodec } from '../../src/codec/index.js';
import { KafkaEventLog } from '../../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../../src/log/topics.js';
import { stackEnv } from './env.js';

/** A servers-profile source for backup tests: Kafka topics under `prefix`, the registry's codec for its events, and S3 under the same prefix (where the CLI keeps the backup). */
export interface ServersSource {
  log: KafkaEventLog;
  s3: S3BlobStore;
  registry: RegistryCodec;
  codec: RegistryEventCodec;
  /** Closes the log and the blob store. */
  close(): Promise<void>;
}

/** Sets up `<prefix>` topics of `partitions` partitions on the dev stack's Kafka, and its S3 prefix. */
export async function openServersSource(prefix: string, partitions: number): Promise<ServersSource> {
  const stack = stackEnv();
  const s3 = new S3BlobStore({ endpoint: stack.s3.endpoint, accessKeyId: stack.s3.accessKeyId, secretAccessKey: stack.s3.secretAccessKey, bucket: stack.s3.bucket, prefix });
  await s3.setup();
  const log = new KafkaEventLog({ brokers: stack.kafkaBrokers });
  await log.setup(topicSpecs({ prefix, partitions }));
  const registry = new RegistryCodec({ url: stack.schemaRegistryUrl });
  const codec = await RegistryEventCodec.create(registry, topicNames(prefix).events);
  return {
    log,
    s3,
    registry,
    codec,
    close: async () => {
      await Promise.allSettled([log.close(), s3.close()]);
    },
  };
}
