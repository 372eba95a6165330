import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { checkpointAgents, listBackupPartitions, openCheckpoint, readShredList, SchemaArchive, verifyBackup, writeCheckpoint } from '../../../src/backup/index.js';
import { S3BlobStore } from '../../../src/blob/s3.js';
import { RegistryEventCodec } from '../../../src/client/index.js';
import { restoreOntoServers } from '../../../src/cli/commands/restore.js';
import { KeyDestroyedError, Keyring, MasterKeySet, RegistryCodec } from '../../../src/codec/index.js';
import { KafkaEventLog } from '../../../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { Projector } from '../../../src/projector/index.js';
import { Snapshotter } from '../../../src/snapshots/snapshotter.js';
import { MongoDataKeyStore } from '../../../src/store/mongo/data-keys.js';
import { MongoStore } from '../../../src/store/mongo/store.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { archiveUntilCaughtUp, writeAgents } from '../../unit/backup/helpers.js';

const dbName = (tag: string) => uniqueName(tag).replace(/[-.]/g, '_');

/**
 * Erasure across a restore onto servers (issue 14 "Erasure test"): an
 * encrypted backup on S3 (values and snapshot bodies under each agent's data
 * key, the wrapped keys and the shred list in the backup); one agent is
 * crypto-shredded, the backup catches up, and a restore onto new topics, a
 * new MongoDB database and a new S3 prefix, with nothing but the backup and
 * the master keys, brings every other agent back while the shredded one
 * stays unreadable: no key, no events, no snapshots.
 */
describe('erasure survives a restore onto servers (Kafka + registry + MongoDB + S3)', () => {
  const stores: MongoStore[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const s of stores) await s.connection.db.dropDatabase().catch(() => undefined);
    await Promise.allSettled([...stores.map((s) => s.close()), ...closers.map((c) => c())]);
  });

  it("a shredded agent's events and snapshots stay unreadable after the restore; the others come back", async () => {
    const stack = stackEnv();
    const prefix = `${uniqueName('ersr')}.`;
    const masterKeys = new MasterKeySet({ m1: randomBytes(32) });
    const log = new KafkaEventLog({ brokers: stack.kafkaBrokers });
    closers.push(() => log.close());
    await log.setup(topicSpecs({ prefix, partitions: 3 }));
    const registry = new RegistryCodec({ url: stack.schemaRegistryUrl });
    const codec = await RegistryEventCodec.create(registry, topicNames(prefix).events);
    const source = await MongoStore.connect({ uri: stack.mongodbUri, database: dbName('ersr') });
    stores.push(source);
    const sourceKeys = new MongoDataKeyStore(source.connection);
    await sourceKeys.setup();
    const keyring = new Keyring({ masterKeys, store: sourceKeys });
    const { s3: c } = stack;
    const s3 = (p: string) => new S3BlobStore({ endpoint: c.endpoint, accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, bucket: c.bucket, prefix: p });
    // Snapshot bodies and the backup in the bucket under the topic prefix, as the services keep them.
    const blobs = s3(prefix);
    closers.push(() => blobs.close());
    await blobs.setup();
    const ids = Array.from({ length: 6 }, (_, i) => `er-${i}`);
    await writeAgents(log, prefix, ids, 4, 'secret-', true, codec);
    await new Projector({ log, codec, store: source, blobs, keyring, topicPrefix: prefix, sweepIntervalMs: 0, snapshots: { everyEvents: 2 } }).runUntilCaughtUp(undefined, 50);
    const archive = () =>
      archiveUntilCaughtUp(
        { log, blobs, codec, topicPrefix: prefix, keyring, dataKeys: sourceKeys, schemas: new SchemaArchive(blobs, registry), registry, catalog: source, segmentMaxBytes: 3000, sessionTimeoutMs: 10_000 },
        60_000,
      );
    await archive();
    const erasedSnapshots = await source.listSnapshots('er-0');
    expect(erasedSnapshots.length).toBeGreaterThan(0);

    // A checkpoint per partition before the erasure: every state in it encrypted under its agent's data key.
    const checkpoints = [];
    for (const partition of await listBackupPartitions(blobs)) {
      const w = await writeCheckpoint({ blobs, codec, partition, keyring, now: Date.now() });
      checkpoints.push(await openCheckpoint((await blobs.get(w!.key))!, w!.key));
    }
    expect(checkpoints.flatMap((cp) => Object.values(cp.agents).map((a) => a.body.kind)).sort()).toEqual(ids.map(() => 'encrypted'));

    // er-0 is erased at the source; the backup catches up (its shred list names it, its wrapped key leaves the backup).
    await keyring.destroyAgentKeys('er-0');
    await archive();
    expect([...(await readShredList(blobs)).keys()]).toEqual(['er-0']);

    // Restore onto fresh servers: a new topic prefix (and S3 prefix), a new database; only the backup and the master keys.
    const targetPrefix = `${uniqueName('ersx')}.`;
    const database = dbName('ersx');
    const env = {
      KAFKA_BROKERS: stack.kafkaBrokers.join(','),
      SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
      MONGODB_URI: stack.mongodbUri,
      S3_ENDPOINT: c.endpoint,
      S3_BUCKET: c.bucket,
      S3_ACCESS_KEY: c.accessKeyId,
      S3_SECRET_KEY: c.secretAccessKey,
      AGENTSTATE_MASTER_KEYS: `m1:${masterKeys.get('m1').toString('base64')}`,
    };
    const { report } = await restoreOntoServers(env, prefix, targetPrefix, database, blobs, {});
    expect({ ok: report.ok, agents: report.agents, keys: report.keys }).toEqual({ ok: true, agents: ids.length - 1, keys: { restored: ids.length - 1, shreddedAgents: 1, withheld: 0 } });
    // Every event of er-0 (created + 4 updates) was left out, and its snapshots too.
    expect(report.shredded).toBe(5);
    expect(report.snapshots.shredded).toBe(erasedSnapshots.length);
    expect(report.snapshots.restored).toBeGreaterThan(0);
    expect(report.snapshots.missing).toEqual([]);

    const target = await MongoStore.connect({ uri: stack.mongodbUri, database });
    stores.push(target);
    const targetKeys = new MongoDataKeyStore(target.connection);
    const targetRing = new Keyring({ masterKeys, store: targetKeys });
    const targetBlobs = s3(targetPrefix);
    closers.push(() => targetBlobs.close());
    // The key: a tombstone, never the wrapped key; no new key can be made for the agent.
    expect((await targetKeys.listForInstance('er-0')).map((k) => ({ wrapped: k.wrapped, destroyed: k.destroyedAt !== null }))).toEqual([{ wrapped: null, destroyed: true }]);
    await expect(targetRing.encrypt('er-0', Buffer.from('x'))).rejects.toBeInstanceOf(KeyDestroyedError);
    // The state and the snapshots: absent from the restored system; the source's bodies do not open with the restored keys.
    expect(await target.getState('er-0')).toBeUndefined();
    expect(await target.listSnapshots('er-0')).toEqual([]);
    await expect(new Snapshotter(source, blobs, { keyring: targetRing }).load(erasedSnapshots[0]!)).rejects.toBeInstanceOf(KeyDestroyedError);
    // The events: the backup read with the restored keys has er-0's records as shredded, the others fold.
    const v = await verifyBackup({ blobs, codec, keyring: targetRing, deep: true });
    expect({ ok: v.ok, shredded: v.shredded, folded: v.deep!.folded }).toEqual({ ok: true, shredded: 5, folded: ids.length - 1 });
    // The checkpoints, read with the restored keys: er-0's state no longer decrypts, every other one does (version 5).
    const fromCheckpoints = new Map<string, { shredded: boolean; version: number | undefined }>();
    for (const cp of checkpoints) for (const [id, a] of await checkpointAgents(cp, targetRing)) fromCheckpoints.set(id, { shredded: a.shredded, version: a.projection?.version });
    expect(Object.fromEntries(fromCheckpoints)).toEqual(Object.fromEntries(ids.map((id) => [id, id === 'er-0' ? { shredded: true, version: undefined } : { shredded: false, version: 5 }])));
    // The others: state back, snapshots readable in the new prefix with the restored keys.
    const heads = await target.getStates(ids.slice(1));
    const restoredSnapshotter = new Snapshotter(target, targetBlobs, { keyring: targetRing });
    for (const id of ids.slice(1)) {
      expect({ id, version: heads.get(id)?.version }).toEqual({ id, version: 5 });
      const snaps = await target.listSnapshots(id);
      expect(snaps.length).toBeGreaterThan(0);
      for (const s of snaps) await restoredSnapshotter.load(s);
    }
  }, 180_000);
});
