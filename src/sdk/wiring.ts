import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { BlobStore } from '../blob/port.js';
import { FsBlobStore } from '../blob/fs.js';
import { S3BlobStore } from '../blob/s3.js';
import type { Cache } from '../cache/port.js';
import { MemoryCache } from '../cache/memory.js';
import { RedisCache } from '../cache/redis.js';
// Through the client's index: the codec modules move to src/codec on main; the index re-exports them either way.
import { JsonEventCodec, RegistryEventCodec, type EventCodec } from '../client/index.js';
import { Keyring } from '../codec/keyring.js';
import { withChangesets } from '../codec/changeset-blob.js';
import type { MasterKeySet } from '../codec/master-keys.js';
import { RegistryCodec } from '../codec/registry.js';
import type { KafkaSettings, MongoSettings, S3Settings } from '../config/env.js';
import type { EventLog } from '../log/port.js';
import { KafkaEventLog } from '../log/kafka/event-log.js';
import { SqliteEventLog } from '../log/sqlite/event-log.js';
import { topicNames, topicSpecs, type TopicNames } from '../log/topics.js';
import { NotFoundError } from '../errors.js';
import { makePrivateDir } from '../util/private-files.js';
import { redactUrl } from '../util/redact.js';
import type { StateStore } from '../store/port.js';
import type { DataKeyStore } from '../store/data-keys.js';
import { MongoDataKeyStore } from '../store/mongo/data-keys.js';
import { MongoStore } from '../store/mongo/store.js';
import { SqliteDataKeyStore } from '../store/sqlite/data-keys.js';
import { SqliteStateStore } from '../store/sqlite/store.js';

/**
 * Typed settings → open adapters, for both profiles. The CLI, the SDK
 * (`openAgentState`) and the tools share this, so "embedded" and "servers"
 * mean the same files, topics and collections everywhere.
 */

/** The log side: where events are written and read. */
export interface OpenedLog {
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

export type LogSettings =
  | {
      kind: 'embedded';
      dataDir: string;
      topicPrefix: string;
      /**
       * Create the data dir and log when missing. Read-only commands pass false:
       * pointed at a wrong --data-dir they must say so, not leave an empty log behind (issue 12 §3).
       * @default true
       */
      create?: boolean;
    }
  | {
      kind: 'servers';
      kafka: KafkaSettings;
      topicPrefix: string;
      /** @default 'agentstate' */
      clientId?: string;
      /** Per connection attempt. @default kafkajs adapter default (10000) */
      connectionTimeoutMs?: number;
      logger?: Logger;
      /**
       * The deployment's S3, opened only when a claim-checked changeset is
       * written or read (docs/writer.md, Large changesets). Without it a large
       * changeset is refused (`AS_TOO_LARGE`, maxEventBytes) and reading one is
       * an `AS_CONFIG` error. @default none
       */
      s3?: S3Settings;
    };

/** Embedded topics have 4 partitions (one process), Kafka's 6 (DESIGN.md The shape). */
const PARTITIONS = { embedded: 4, servers: 6 } as const;

/** Opens the event log and its codec (Avro + registry when a registry is configured, else JSON). */
export async function openLog(settings: LogSettings): Promise<OpenedLog> {
  const prefix = settings.topicPrefix;
  const topics = topicNames(prefix);
  let log: EventLog;
  let codec: EventCodec;
  let description: string;
  if (settings.kind === 'servers') {
    const { brokers, schemaRegistryUrl } = settings.kafka;
    log = new KafkaEventLog({
      brokers,
      ...(settings.clientId ? { clientId: settings.clientId } : {}),
      ...(settings.connectionTimeoutMs ? { connectionTimeoutMs: settings.connectionTimeoutMs } : {}),
      ...(settings.logger ? { logger: settings.logger } : {}),
    });
    try {
      codec = schemaRegistryUrl ? await RegistryEventCodec.create(new RegistryCodec({ url: schemaRegistryUrl }), topics.events) : new JsonEventCodec();
    } catch (e) {
      await log.close();
      throw e;
    }
    description = `kafka ${brokers.join(',')}${schemaRegistryUrl ? ` + registry ${redactUrl(schemaRegistryUrl)}` : ''}`;
  } else {
    const dir = resolve(settings.dataDir);
    const file = join(dir, 'log.sqlite');
    if (settings.create === false && !existsSync(file)) {
      throw new NotFoundError(`agentstate data in ${dir} (no log.sqlite there; check --data-dir)`);
    }
    // A read-only command never creates the dir (the log exists, checked above), nor writes into it.
    if (settings.create !== false) makePrivateDir(dir);
    log = new SqliteEventLog({ path: file, readOnly: settings.create === false });
    codec = new JsonEventCodec();
    description = `embedded (sqlite ${file})`;
  }
  // Claim-checked changesets are fetched from the profile's blob store, opened on first need
  // (a read-only command reading only small events opens nothing more).
  // Without S3 on the servers the codec stays as it is: a writer then refuses a large changeset
  // with AS_TOO_LARGE (maxEventBytes), and a reader meeting one says it has no blob store.
  let blobs: BlobStore | undefined;
  const s3 = settings.kind === 'servers' ? settings.s3 : undefined;
  if (settings.kind === 'embedded' || s3) {
    const dataDir = settings.kind === 'embedded' ? settings.dataDir : undefined;
    codec = withChangesets(codec, async () => (blobs ??= dataDir !== undefined ? new FsBlobStore({ dir: join(resolve(dataDir), 'blobs') }) : new S3BlobStore({ ...s3!, prefix, createBucket: false })));
  }
  const partitions = PARTITIONS[settings.kind];
  return {
    kind: settings.kind,
    description,
    log,
    codec,
    prefix,
    topics,
    async setupTopics() {
      const checks = await log.setup(topicSpecs({ prefix, partitions }));
      return checks.filter((c) => c.status === 'mismatch').flatMap((c) => c.problems.map((p) => `${c.name}: ${p}`));
    },
    close: async () => {
      await Promise.allSettled([blobs?.close()]);
      await log.close();
    },
  };
}

/** The projector's sinks and the StateManager's sources: store, blobs, cache, keyring. */
export interface OpenedSinks {
  store: StateStore;
  blobs: BlobStore;
  cache: Cache | undefined;
  /** Set when master keys are configured: snapshot bodies are then encrypted. */
  keyring: Keyring | undefined;
  /** The keyring's data-key store (a restore writes the backup's keys into it). */
  dataKeys?: DataKeyStore | undefined;
  close(): Promise<void>;
}

export type SinkSettings =
  | { kind: 'embedded'; dataDir: string; masterKeys: MasterKeySet | undefined }
  | {
      kind: 'servers';
      mongo: MongoSettings;
      s3: S3Settings;
      redisUrl: string | undefined;
      topicPrefix: string;
      masterKeys: MasterKeySet | undefined;
    };

/**
 * Opens and sets up the store, blob store, cache and (with master keys) the
 * keyring: SQLite + files + memory embedded; MongoDB + S3 + Redis on servers.
 * On failure, whatever was opened is closed again.
 */
export async function openSinks(settings: SinkSettings): Promise<OpenedSinks> {
  let store: StateStore | undefined;
  let blobs: BlobStore | undefined;
  let cache: Cache | undefined;
  let keys: SqliteDataKeyStore | MongoDataKeyStore | undefined;
  const closeAll = async () => {
    await Promise.allSettled([store?.close(), blobs?.close(), cache?.close(), keys instanceof SqliteDataKeyStore ? keys.close() : undefined]);
  };
  try {
    if (settings.kind === 'embedded') {
      const dir = resolve(settings.dataDir);
      makePrivateDir(dir);
      store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
      blobs = new FsBlobStore({ dir: join(dir, 'blobs') });
      cache = new MemoryCache();
    } else {
      store = await MongoStore.connect({ uri: settings.mongo.uri, database: settings.mongo.database, ...(settings.mongo.ferretdbPostgresUrl ? { ferretdbPostgresUrl: settings.mongo.ferretdbPostgresUrl } : {}) });
      blobs = new S3BlobStore({ ...settings.s3, prefix: settings.topicPrefix });
      cache = settings.redisUrl ? new RedisCache({ url: settings.redisUrl, prefix: `${settings.topicPrefix}cache:` }) : undefined;
    }
    await store.setup();
    await blobs.setup();
    let keyring: Keyring | undefined;
    if (settings.masterKeys) {
      // Data keys beside the state they protect: keys.sqlite in the data dir, or `data_keys` in MongoDB.
      keys = store instanceof MongoStore ? new MongoDataKeyStore(store.connection) : new SqliteDataKeyStore({ path: join(resolve((settings as { dataDir: string }).dataDir), 'keys.sqlite') });
      await keys.setup();
      keyring = new Keyring({ masterKeys: settings.masterKeys, store: keys });
    }
    return { store, blobs, cache, keyring, dataKeys: keys, close: closeAll };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
