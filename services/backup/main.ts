/**
 * The backup process (DESIGN.md The shape; issue 14): wiring, signals,
 * metrics. Logic lives in src/backup. SIGTERM/SIGINT: finish the batch in
 * hand, close every open segment (segment + manifest durable), exit 0. A
 * kill -9 loses nothing either: the next start re-archives from the manifests.
 */
import { mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import { runService } from '../lib/service.js';
import { checkStoreMatchesLog } from '../../src/sdk/log-check.js';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackupArchiver, describeDrill, embeddedDrillTarget, runDrill, SchemaArchive } from '../../src/backup/index.js';
import { MongoDrillRecorder, serversDrillTarget, SqliteDrillRecorder } from '../../src/cli/commands/backup-drill.js';
import { FsBlobStore } from '../../src/blob/fs.js';
import { S3BlobStore } from '../../src/blob/s3.js';
import type { BlobStore } from '../../src/blob/port.js';
import { JsonEventCodec, RegistryEventCodec, type EventCodec } from '../../src/client/index.js';
import { Keyring, MasterKeySet, RegistryCodec } from '../../src/codec/index.js';
import { MongoConnection } from '../../src/store/mongo/connection.js';
import { MongoDataKeyStore } from '../../src/store/mongo/data-keys.js';
import { SqliteDataKeyStore, SqliteStateStore } from '../../src/store/sqlite/index.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import type { StateStore } from '../../src/store/port.js';
import type { DataKeyStore } from '../../src/store/data-keys.js';
import { KafkaEventLog } from '../../src/log/kafka/index.js';
import type { EventLog } from '../../src/log/port.js';
import { SqliteEventLog } from '../../src/log/sqlite/index.js';
import { topicNames, topicSpecs } from '../../src/log/topics.js';
import type { MetricsRegistry } from '../../src/telemetry/metrics.js';
import { loadConfig } from './config.js';

const HELP = {
  agentstate_backup_lag_records: 'Records in the events topic and not yet in the blob store, per partition.',
  agentstate_backup_rpo_seconds: 'Age of the oldest record not yet in the blob store (0 when caught up): the RPO now, per partition.',
  agentstate_backup_archived_offset: 'Next offset not in the backup, per partition.',
  agentstate_backup_segments_total: 'Segments written (segment + manifest entry durable).',
  agentstate_backup_records_total: 'Records archived.',
  agentstate_backup_bytes_total: 'Stored bytes of segments written.',
  agentstate_backup_segment_seconds: 'Time to seal and write a segment and its manifest entry.',
  agentstate_backup_manifest_conflicts_total: 'Manifest versions another backup process wrote first.',
  agentstate_backup_restarts_total: 'Consumer restarts after a failure.',
  agentstate_backup_keys: 'Wrapped data keys held by the backup.',
  agentstate_backup_drill_ok: '1 when the last scheduled drill restored and verified the backup, else 0.',
  agentstate_backup_drill_last_success_timestamp_seconds: 'When the last successful scheduled drill finished (Unix s).',
  agentstate_backup_drill_restore_seconds: 'Restore time of the last scheduled drill.',
  agentstate_backup_registry_subjects: 'Registry subjects of the topic prefix held by the backup.',
  agentstate_backup_cataloged_snapshots: "Snapshots named by the backup's snapshot catalog (bodies referenced, not copied).",
  agentstate_backup_pruned_segments_total: 'Unreferenced segment objects deleted by the backup retention.',
  agentstate_backup_shredded_agents: 'Agents on the backup shred list (their keys are not in the backup).',
};

runService('backup', HELP, loadConfig, async (config, logger, metrics) => {
  let log: EventLog;
  let blobs: BlobStore;
  let codec: EventCodec;
  let schemas: SchemaArchive | undefined;
  let registry: RegistryCodec | undefined;
  /** The state store whose snapshot catalog is backed up (MongoDB state_snapshots, or store.sqlite). */
  let catalog: Pick<StateStore, 'listAgents' | 'listSnapshots'> | undefined;
  let closeCatalog: (() => Promise<void>) | undefined;
  if (config.profile === 'servers') {
    log = new KafkaEventLog({ brokers: config.kafkaBrokers, logger, clientId: 'agentstate-backup' });
    blobs = new S3BlobStore({ ...config.s3!, prefix: config.topicPrefix });
    registry = config.schemaRegistryUrl ? new RegistryCodec({ url: config.schemaRegistryUrl }) : undefined;
    codec = registry ? await RegistryEventCodec.create(registry, topicNames(config.topicPrefix).events) : new JsonEventCodec();
    // The schema text of every id a segment uses goes into the backup too: a restore onto an empty registry needs it.
    if (registry) schemas = new SchemaArchive(blobs, registry);
    if (config.catalogMongo) {
      const store = await MongoStore.connect(config.catalogMongo);
      catalog = store;
      closeCatalog = () => store.close();
    } else logger.warn('MONGODB_URI is not set: the snapshot catalog is not backed up (a restore rebuilds snapshots only as the projector takes them)');
  } else {
    mkdirSync(config.dataDir, { recursive: true });
    log = new SqliteEventLog({ path: join(config.dataDir, 'log.sqlite') });
    blobs = new FsBlobStore({ dir: join(config.dataDir, 'blobs') });
    codec = new JsonEventCodec();
    const store = new SqliteStateStore({ path: join(config.dataDir, 'store.sqlite') });
    await store.setup();
    catalog = store;
    closeCatalog = () => store.close();
  }
  // Same topic layout as the CLI's backends (6 partitions on Kafka, 4 embedded).
  const checks = await log.setup(topicSpecs({ prefix: config.topicPrefix, partitions: config.profile === 'servers' ? 6 : 4 }));
  for (const c of checks) if (c.status === 'mismatch') logger.warn({ topic: c.name, problems: c.problems }, 'topic differs from the default layout');
  // Issue 12 §3: archiving a log emptied, replaced or behind the store would mix two logs in one backup: refused (AS_LOG_MISMATCH), as the projector refuses it.
  if (config.profile === 'embedded') await checkStoreMatchesLog(log, topicNames(config.topicPrefix).events, { kind: 'embedded', dataDir: config.dataDir });
  else if (config.catalogMongo) await checkStoreMatchesLog(log, topicNames(config.topicPrefix).events, { kind: 'servers', mongo: config.catalogMongo });
  else logger.warn('MONGODB_URI is not set: the log is not checked against the state store at start (docs/operations.md, "The store and its log")');
  await blobs.setup();
  // Data keys where the projector keeps them: MongoDB data_keys, or keys.sqlite in the data dir.
  let keyring: Keyring | undefined;
  let dataKeys: DataKeyStore | undefined;
  let closeKeys: (() => Promise<void>) | undefined;
  if (config.backupKeys) {
    const masterKeys = (await MasterKeySet.fromEnv(process.env))!;
    if (config.mongo) {
      const connection = await MongoConnection.connect(config.mongo);
      const keys = new MongoDataKeyStore(connection);
      await keys.setup();
      dataKeys = keys;
      closeKeys = () => connection.close();
    } else {
      const keys = new SqliteDataKeyStore({ path: join(config.dataDir, 'keys.sqlite') });
      await keys.setup();
      dataKeys = keys;
      closeKeys = () => keys.close();
    }
    if (config.encrypt) keyring = new Keyring({ masterKeys, store: dataKeys });
  }
  const archiver = new BackupArchiver({
    ...(keyring ? { keyring } : {}),
    ...(schemas ? { schemas } : {}),
    ...(dataKeys ? { dataKeys, keysSyncMs: config.keysSyncMs } : {}),
    ...(registry ? { registry } : {}),
    ...(catalog ? { catalog } : {}),
    metadataSyncMs: config.metadataSyncMs,
    pruneIntervalMs: config.pruneIntervalMs,
    orphanGraceMs: config.orphanGraceMs,
    checkpointIntervalMs: config.checkpointIntervalMs,
    keepDays: config.keepDays,
    keepMonthly: config.keepMonthly,
    trimLogAfterMs: config.trimLogAfterMs,
    log,
    blobs,
    codec,
    topicPrefix: config.topicPrefix,
    group: config.group,
    segmentMaxBytes: config.segmentMaxBytes,
    segmentMaxAgeMs: config.segmentMaxAgeMs,
    compression: config.compression,
    tickMs: config.tickMs,
    sessionTimeoutMs: config.sessionTimeoutMs,
    metrics,
    logger,
  });

  return {
    run: async (stop) => {
      const drills = config.drillIntervalMs > 0 ? scheduleDrills(config, { log, blobs, codec, logger, metrics }, stop) : undefined;
      await archiver.run(stop);
      await drills;
    },
    health: async () => {
      const lag = await archiver.lag();
      const ok = Math.max(0, ...lag.map((l) => l.seconds)) <= config.healthMaxRpoSeconds;
      return { ok, body: { status: ok ? 'ok' : 'rpo_exceeded', maxRpoSeconds: config.healthMaxRpoSeconds, partitions: lag } };
    },
    onStop: 'closing open segments',
    started: { profile: config.profile, group: config.group, prefix: config.topicPrefix, segmentMaxBytes: config.segmentMaxBytes, segmentMaxAgeMs: config.segmentMaxAgeMs, encrypt: config.encrypt },
    close: async () => void (await Promise.allSettled([log.close(), blobs.close(), closeKeys?.(), closeCatalog?.()])),
  };
});

/**
 * `backup drill` every BACKUP_DRILL_INTERVAL_MS (the seed's "regular backup
 * restoration testing"): the first one interval after start, each recorded in
 * backup_drills; a failure is logged and counted, never fatal to the backup.
 */
async function scheduleDrills(config: ReturnType<typeof loadConfig>, deps: { log: EventLog; blobs: BlobStore; codec: EventCodec; logger: Logger; metrics: MetricsRegistry }, stop: AbortSignal): Promise<void> {
  const masterKeys = await MasterKeySet.fromEnv(process.env);
  const recorder =
    config.profile === 'servers'
      ? new MongoDrillRecorder(await MongoConnection.connect({ uri: process.env.MONGODB_URI!, database: process.env.AGENTSTATE_MONGO_DATABASE ?? 'agentstate' }))
      : new SqliteDrillRecorder(config.dataDir);
  const target =
    config.profile === 'servers'
      ? serversDrillTarget(process.env, config.topicPrefix, deps.blobs)
      : embeddedDrillTarget({ blobs: deps.blobs, dataDir: config.dataDir, codec: deps.codec, topicPrefix: config.topicPrefix, ...(masterKeys ? { masterKeys } : {}) });
  try {
    while (!stop.aborted) {
      await sleep(config.drillIntervalMs, undefined, { signal: stop }).catch(() => undefined);
      if (stop.aborted) break;
      try {
        const r = await runDrill({ blobs: deps.blobs, log: deps.log, topicPrefix: config.topicPrefix, target, recorder });
        deps.metrics.set('agentstate_backup_drill_ok', r.ok ? 1 : 0);
        if (r.ok) deps.metrics.set('agentstate_backup_drill_last_success_timestamp_seconds', Math.floor(r.finishedAt / 1000));
        deps.metrics.set('agentstate_backup_drill_restore_seconds', r.restoreSeconds);
        (r.ok ? deps.logger.info.bind(deps.logger) : deps.logger.error.bind(deps.logger))({ drill: r }, describeDrill(r));
      } catch (err) {
        deps.metrics.set('agentstate_backup_drill_ok', 0);
        deps.logger.error({ err }, 'backup drill failed to run');
      }
    }
  } finally {
    await recorder.close();
  }
}
