/**
 * The projector process (DESIGN.md The shape): wiring, signals, metrics.
 * Logic lives in src/projector. SIGTERM/SIGINT: finish and commit the batch
 * in hand, then exit 0. `--until-caught-up`: exit 0 once the group has
 * committed up to the end offsets seen at start.
 */
import { S3BlobStore } from '../../src/blob/s3.js';
import { RedisCache } from '../../src/cache/redis.js';
import { JsonEventCodec, RegistryEventCodec, type EventCodec } from '../../src/client/index.js';
import { Keyring, RegistryCodec } from '../../src/codec/index.js';
import { loadMasterKeys } from '../../src/config/index.js';
import { KafkaEventLog } from '../../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../../src/log/topics.js';
import { Projector } from '../../src/projector/index.js';
import { MongoDataKeyStore, MongoStore } from '../../src/store/mongo/index.js';
import { runService } from '../lib/service.js';
import { loadConfig } from './config.js';

const HELP = {
  agentstate_projector_events_total: 'Events seen by the projector, by result (applied, skipped redeliveries).',
  agentstate_projector_rejects_total: 'Events sent to the DLQ, by reason.',
  agentstate_projector_lag: 'Records behind the partition end when the last batch was fetched.',
  agentstate_projector_batch_seconds: 'Time to fold a batch and write every sink.',
  agentstate_projector_stage_seconds: 'Wall time of each stage of a batch (heads, fold, encode, dlq, snapshots, mirror, cache, states, state-topic); stages overlap.',
  agentstate_projector_restarts_total: 'Consumer restarts after a failure.',
  agentstate_snapshot_bytes: 'Stored size of snapshots taken.',
  agentstate_snapshot_seconds: 'Time to take a snapshot.',
};

runService('projector', HELP, loadConfig, async (config, logger, metrics) => {
  const log = new KafkaEventLog({ brokers: config.kafkaBrokers, logger });
  await log.setup(topicSpecs({ prefix: config.topicPrefix }));
  const codec: EventCodec = config.schemaRegistryUrl ? await RegistryEventCodec.create(new RegistryCodec({ url: config.schemaRegistryUrl }), topicNames(config.topicPrefix).events) : new JsonEventCodec();
  const store = await MongoStore.connect({ uri: config.mongodbUri, database: config.mongoDatabase, ...(config.ferretdbPostgresUrl === undefined ? {} : { ferretdbPostgresUrl: config.ferretdbPostgresUrl }) });
  await store.setup();
  if (config.ferretdbPostgresUrl !== undefined) logger.info({ eventRows: await store.eventInsertPath() }, 'FerretDB on PostgreSQL: event mirror rows inserted through this path');
  const blobs = new S3BlobStore(config.s3);
  await blobs.setup();
  const cache = config.redisUrl ? new RedisCache({ url: config.redisUrl, prefix: `${config.topicPrefix}cache:` }) : undefined;
  let keyring: Keyring | undefined;
  const masterKeys = await loadMasterKeys(config.masterKeys);
  if (masterKeys) {
    const keyStore = new MongoDataKeyStore(store.connection);
    await keyStore.setup();
    keyring = new Keyring({ masterKeys, store: keyStore });
  }
  const projector = new Projector({
    log,
    codec,
    store,
    blobs,
    ...(cache ? { cache } : {}),
    topicPrefix: config.topicPrefix,
    group: config.group,
    snapshots: config.snapshots,
    ...(keyring ? { keyring } : {}),
    sessionTimeoutMs: config.sessionTimeoutMs,
    metrics,
    logger,
  });

  return {
    run: (stop) => (config.untilCaughtUp ? projector.runUntilCaughtUp(stop) : projector.run(stop)),
    onStop: 'after the batch in hand',
    started: { group: config.group, prefix: config.topicPrefix, untilCaughtUp: config.untilCaughtUp },
    close: async () => void (await Promise.allSettled([log.close(), store.close(), blobs.close(), cache?.close()])),
  };
});
