import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listArchivedSchemas, readArchivedTopics, runDrill, SchemaArchive, TOPICS_KEY } from '../../../src/backup/index.js';
import { drillScratchNames, MongoDrillRecorder, serversDrillTarget } from '../../../src/cli/commands/backup-drill.js';
import { createKafka } from '../../../src/log/kafka/connection.js';
import { MongoConnection } from '../../../src/store/mongo/connection.js';
import { S3BlobStore } from '../../../src/blob/s3.js';
import { RegistryEventCodec } from '../../../src/client/index.js';
import { restoreOntoServers } from '../../../src/cli/commands/restore.js';
import { RegistryCodec } from '../../../src/codec/index.js';
import { KafkaEventLog } from '../../../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { StateManager } from '../../../src/manager/index.js';
import { Projector } from '../../../src/projector/index.js';
import { MongoStore } from '../../../src/store/mongo/store.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { archiveUntilCaughtUp, writeAgents } from '../../unit/backup/helpers.js';

const dbName = (tag: string) => uniqueName(tag).replace(/[-.]/g, '_');

/**
 * Restore onto servers (issue 14): a backup on S3 restored into new topics
 * and a new MongoDB database gives each agent exactly the state the source
 * answers for that time, version and checksum.
 */
describe('restore onto servers (Kafka + registry + MongoDB + S3)', () => {
  const prefix = `${uniqueName('rsrc')}.`;
  const ids = Array.from({ length: 12 }, (_, i) => `srv-agent-${i}`);
  const stores: MongoStore[] = [];
  let log: KafkaEventLog;
  let source: MongoStore;
  let backup: S3BlobStore;
  let snapshots: S3BlobStore;
  let middle = 0;
  const s3 = (p: string) => {
    const { s3: c } = stackEnv();
    return new S3BlobStore({ endpoint: c.endpoint, accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, bucket: c.bucket, prefix: p });
  };
  const env = (): NodeJS.ProcessEnv => {
    const s = stackEnv();
    return {
      KAFKA_BROKERS: s.kafkaBrokers.join(','),
      SCHEMA_REGISTRY_URL: s.schemaRegistryUrl,
      MONGODB_URI: s.mongodbUri,
      S3_ENDPOINT: s.s3.endpoint,
      S3_BUCKET: s.s3.bucket,
      S3_ACCESS_KEY: s.s3.accessKeyId,
      S3_SECRET_KEY: s.s3.secretAccessKey,
      REDIS_URL: s.redisUrl,
    };
  };

  beforeAll(async () => {
    const stack = stackEnv();
    log = new KafkaEventLog({ brokers: stack.kafkaBrokers });
    await log.setup(topicSpecs({ prefix, partitions: 3 }));
    const registry = new RegistryCodec({ url: stack.schemaRegistryUrl });
    const codec = await RegistryEventCodec.create(registry, topicNames(prefix).events);
    await writeAgents(log, prefix, ids, 3, 'early', true, codec);
    await sleep(50);
    middle = Date.now();
    await sleep(50);
    await writeAgents(log, prefix, ids.slice(0, 8), 2, 'late', false, codec);
    source = await MongoStore.connect({ uri: stack.mongodbUri, database: dbName('rsrc') });
    stores.push(source);
    snapshots = s3(prefix);
    await snapshots.setup();
    await new Projector({ log, codec, store: source, blobs: snapshots, topicPrefix: prefix, sweepIntervalMs: 0 }).runUntilCaughtUp(undefined, 50);
    // Where the CLI keeps the backup: the bucket under the topic prefix.
    backup = s3(prefix);
    await archiveUntilCaughtUp({ log, blobs: backup, codec, topicPrefix: prefix, schemas: new SchemaArchive(backup, registry), registry, catalog: source, segmentMaxBytes: 3000, sessionTimeoutMs: 10_000 }, 60_000);
  }, 120_000);
  afterAll(async () => {
    for (const s of stores) await s.connection.db.dropDatabase().catch(() => undefined);
    await Promise.allSettled([...stores.map((s) => s.close()), log?.close(), backup?.close(), snapshots?.close()]);
  });

  it('to a point in time: each agent equals projectStateAtTime on the source; the registry schemas are in the backup', async () => {
    const schemas = await listArchivedSchemas(backup);
    expect(schemas.length).toBeGreaterThan(0);
    const targetPrefix = `${uniqueName('rpit')}.`;
    const database = dbName('rpit');
    const { report } = await restoreOntoServers(env(), prefix, targetPrefix, database, backup, { to: middle });
    expect({ ok: report.ok, mismatched: report.mismatched, extra: report.extra, agents: report.agents }).toEqual({ ok: true, mismatched: [], extra: [], agents: ids.length });
    const target = await MongoStore.connect({ uri: stackEnv().mongodbUri, database });
    stores.push(target);
    const manager = new StateManager({ store: source, blobs: snapshots });
    const got = await target.getStates(ids);
    for (const id of ids) {
      const want = await manager.projectStateAtTime(id, middle);
      expect({ id, v: got.get(id)?.version, c: got.get(id)?.checksum }).toEqual({ id, v: want.version, c: want.checksum });
      expect(want.version).toBe(4); // created + 3 early updates: the late ones come after `middle`
    }
    // The restored topic holds each agent's events up to `middle`, headers and timestamps intact.
    const ends = await log.endOffsets(topicNames(targetPrefix).events);
    expect(Object.values(ends).reduce((n, e) => n + Number(e), 0)).toBe(ids.length * 4);
  }, 120_000);

  it('latest, for some agents: their heads equal the source, the others are not restored', async () => {
    const some = new Set(ids.slice(5, 10));
    const targetPrefix = `${uniqueName('rlat')}.`;
    const database = dbName('rlat');
    const { report } = await restoreOntoServers(env(), prefix, targetPrefix, database, backup, { agents: some });
    expect({ ok: report.ok, agents: report.agents }).toEqual({ ok: true, agents: some.size });
    const target = await MongoStore.connect({ uri: stackEnv().mongodbUri, database });
    stores.push(target);
    const [want, got] = await Promise.all([source.getStates(ids), target.getStates(ids)]);
    for (const id of ids) {
      const expected = some.has(id) ? { v: want.get(id)!.version, c: want.get(id)!.checksum } : { v: undefined, c: undefined };
      expect({ id, v: got.get(id)?.version, c: got.get(id)?.checksum }).toEqual({ id, ...expected });
    }
    // Re-running a finished restore appends nothing and still verifies.
    const { report: again } = await restoreOntoServers(env(), prefix, targetPrefix, database, backup, { agents: some });
    expect({ ok: again.ok, published: again.published, present: again.present }).toEqual({ ok: true, published: 0, present: report.published });
  }, 120_000);

  it('backup drill: restores the latest backup into scratch topics, database and S3 prefix, verifies, records it in backup_drills, removes the scratch', async () => {
    const database = dbName('rdrl');
    const drillEnv = { ...env(), AGENTSTATE_MONGO_DATABASE: database };
    const recorder = new MongoDrillRecorder(await MongoConnection.connect({ uri: stackEnv().mongodbUri, database }));
    try {
      const r = await runDrill({ blobs: backup, log, topicPrefix: prefix, target: serversDrillTarget(drillEnv, prefix, backup), recorder });
      expect(r).toMatchObject({ ok: true, agents: ids.length, records: ids.length * 4 + 8 * 3, mismatched: 0, error: null, cleanedUp: true, rpoSeconds: 0 });
      expect(await recorder.lastSuccessful()).toEqual(r);
      // Nothing of the scratch target is left: topics, database, S3 objects.
      const scratch = drillScratchNames(prefix, database, r.drillId);
      const admin = createKafka({ brokers: stackEnv().kafkaBrokers }).admin();
      await admin.connect();
      const topics = await admin.listTopics().finally(() => admin.disconnect());
      expect(topics.filter((t) => t.startsWith(scratch.prefix))).toEqual([]);
      const conn = await MongoConnection.connect({ uri: stackEnv().mongodbUri, database });
      const dbs = await conn.client
        .db('admin')
        .admin()
        .listDatabases()
        .finally(() => conn.close());
      expect(dbs.databases.map((d) => d.name)).not.toContain(scratch.database);
      const left = s3(scratch.prefix);
      const keys: string[] = [];
      for await (const b of left.list('')) keys.push(b.key);
      await left.close();
      expect(keys).toEqual([]);
      // Nor the registry subjects the restore recreated under the scratch prefix.
      const subjects = (await (await fetch(`${stackEnv().schemaRegistryUrl.replace(/\/$/, '')}/subjects`)).json()) as string[];
      expect(subjects.filter((s) => s.startsWith(scratch.prefix))).toEqual([]);
    } finally {
      await recorder.connection.db.dropDatabase().catch(() => undefined);
      await recorder.close();
    }
  }, 180_000);

  it('onto a smaller cluster: a recorded replication factor above its brokers is lowered to them, min.insync.replicas with it, and said', async () => {
    // The backup says the source ran 3 replicas with min.insync.replicas 2; the dev cluster has one broker.
    const original = (await backup.get(TOPICS_KEY))!;
    const archived = (await readArchivedTopics(backup))!;
    const bigger = { ...archived, topics: archived.topics.map((t) => ({ ...t, replicationFactor: 3, configs: { ...t.configs, 'min.insync.replicas': '2' } })) };
    await backup.put(TOPICS_KEY, Buffer.from(JSON.stringify(bigger)), { contentType: 'application/json' });
    try {
      const targetPrefix = `${uniqueName('rrf')}.`;
      const database = dbName('rrf');
      const { report } = await restoreOntoServers(env(), prefix, targetPrefix, database, backup, {});
      stores.push(await MongoStore.connect({ uri: stackEnv().mongodbUri, database }));
      expect({ ok: report.ok, agents: report.agents }).toEqual({ ok: true, agents: ids.length });
      expect(report.replication.map((r) => [r.topic.slice(targetPrefix.length), r.recorded, r.used]).sort()).toEqual(archived.topics.map((t) => [t.role, 3, 1]).sort());
      const described = await log.describeTopics!([topicNames(targetPrefix).events]);
      expect(described.map((d) => [d.replicationFactor, d.configs?.['min.insync.replicas']])).toEqual([[1, '1']]);
    } finally {
      await backup.put(TOPICS_KEY, original, { contentType: 'application/json' });
    }
  }, 120_000);
});
