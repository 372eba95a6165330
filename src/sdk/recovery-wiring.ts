import { join, resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import { RegistryCodec } from '../codec/registry.js';
import { FsBlobStore } from '../blob/fs.js';
import { S3BlobStore } from '../blob/s3.js';
import type { BlobSource } from '../codec/changeset-blob.js';
import type { MongoSettings, S3Settings } from '../config/env.js';
import { AvroRuntimeWire, JsonRuntimeWire, type RuntimeWire } from '../runtime/wire.js';
import type { TopicNames } from '../log/topics.js';
import { MongoConnection } from '../store/mongo/connection.js';
import { MongoRecoveryRecordStore } from '../store/mongo/recovery-records.js';
import type { RecoveryRecordStore } from '../store/recovery-records.js';
import { SqliteRecoveryRecordStore } from '../store/sqlite/recovery-records.js';

/**
 * The recovery records store for a profile: `recovery_records` in MongoDB
 * (servers) or in the data dir's store.sqlite (embedded), set up and ready.
 * Its close() closes what it opened.
 */
export async function openRecoveryRecords(settings: { kind: 'embedded'; dataDir: string } | { kind: 'servers'; mongo: MongoSettings }): Promise<RecoveryRecordStore> {
  if (settings.kind === 'embedded') {
    const dir = resolve(settings.dataDir);
    mkdirSync(dir, { recursive: true });
    const store = new SqliteRecoveryRecordStore({ path: join(dir, 'store.sqlite') });
    await store.setup();
    return store;
  }
  const connection = await MongoConnection.connect({ uri: settings.mongo.uri, database: settings.mongo.database });
  const store = new MongoRecoveryRecordStore(connection);
  try {
    await store.setup();
  } catch (e) {
    await connection.close();
    throw e;
  }
  const close = store.close.bind(store);
  store.close = async () => {
    await close();
    await connection.close();
  };
  return store;
}

/**
 * The deployment's blob store for the recovery service: a restore-point
 * search folds an agent's history, and a claim-checked changeset in it is
 * fetched from here (docs/writer.md, Large changesets). The data dir's
 * blobs/ embedded; S3 under the topic prefix on servers (opened on first
 * need), or undefined without S3 settings: a search meeting a claim-checked
 * record then fails with AS_CONFIG naming `blobs`.
 */
export function recoveryBlobs(settings: { kind: 'embedded'; dataDir: string } | { kind: 'servers'; s3: S3Settings | undefined; topicPrefix: string }): BlobSource | undefined {
  if (settings.kind === 'embedded') return new FsBlobStore({ dir: join(resolve(settings.dataDir), 'blobs') });
  const s3 = settings.s3;
  if (!s3) return undefined;
  let opened: S3BlobStore | undefined;
  return async () => (opened ??= new S3BlobStore({ ...s3, prefix: settings.topicPrefix, createBucket: false }));
}

/** Heartbeat and control encoding: Avro with the registry when one is configured (DESIGN.md Wire format), else JSON. */
export function openRuntimeWire(schemaRegistryUrl: string | undefined, topics: Pick<TopicNames, 'heartbeats' | 'control'>): RuntimeWire {
  return schemaRegistryUrl ? new AvroRuntimeWire(new RegistryCodec({ url: schemaRegistryUrl }), topics) : new JsonRuntimeWire();
}
