/**
 * What the pipeline benchmarks (project, replay, connect) share: their
 * numeric options, and a private set of topics (6 partitions), the Avro event
 * codec and a blob-store prefix on the dev stack.
 */
import { S3BlobStore } from '../../src/blob/s3.js';
import { RegistryEventCodec } from '../../src/client/index.js';
import { RegistryCodec } from '../../src/codec/index.js';
import { KafkaEventLog } from '../../src/log/kafka/index.js';
import { MongoConnection } from '../../src/store/mongo/index.js';
import { topicNames, topicSpecs, type TopicNames } from '../../src/log/topics.js';
import type { StackEnv } from '../../test/support/env.js';
import { benchStack } from '../stack.js';

/** `--name N` from the command line (a positive integer), else `fallback`. */
export function intArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const n = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${process.argv[i + 1]}`);
  return n;
}

export interface PipelineBench {
  env: StackEnv;
  /** Unique per run: names databases and prefixes. */
  stamp: string;
  prefix: string;
  topics: TopicNames;
  log: KafkaEventLog;
  codec: RegistryEventCodec;
  blobs: S3BlobStore;
}

/** Servers, then topics `bench-<name>-<stamp>.*`, the registry codec and a blob store under that prefix. */
export async function pipelineBench(name: string): Promise<PipelineBench> {
  const env = await benchStack();
  const stamp = Date.now().toString(36);
  const prefix = `bench-${name}-${stamp}.`;
  const topics = topicNames(prefix);
  const log = new KafkaEventLog({ brokers: env.kafkaBrokers });
  await log.setup(topicSpecs({ prefix, partitions: 6 }));
  const codec = await RegistryEventCodec.create(new RegistryCodec({ url: env.schemaRegistryUrl }), topics.events);
  const blobs = new S3BlobStore({ ...env.s3, prefix });
  await blobs.setup();
  return { env, stamp, prefix, topics, log, codec, blobs };
}

/** Drops the benchmark's databases (a failed drop is left for the next cleanup). */
export async function dropDatabases(uri: string, databases: readonly string[]): Promise<void> {
  for (const database of databases) {
    const c = await MongoConnection.connect({ uri, database });
    await c.db.dropDatabase().catch(() => undefined);
    await c.close();
  }
}
