import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { RestorePointTooOldError, SchemaArchive, applyRetention, listCheckpoints, listManifestVersions, openManifest, verifyBackup } from '../../../src/backup/index.js';
import type { BlobStore } from '../../../src/blob/port.js';
import { restoreOntoServers } from '../../../src/cli/commands/restore.js';
import { topicNames } from '../../../src/log/topics.js';
import { Projector } from '../../../src/projector/index.js';
import { MongoStore } from '../../../src/store/mongo/store.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { openServersSource } from '../../support/servers-source.js';
import { archiveUntilCaughtUp, failingDeletes, writeAgents } from '../../unit/backup/helpers.js';

const DAY = 86_400_000;
const dbName = (tag: string) => uniqueName(tag).replace(/[-.]/g, '_');

/**
 * Retention by age on the servers profile (Kafka + registry + S3 +
 * MongoDB), with an injected clock: a crash in the middle of the retention
 * (S3 deletes failing after the first segment) leaves a backup that verifies;
 * once finished, the segments behind the checkpoint are gone, and a restore
 * onto new topics and a new database starts from the checkpoint, applies the
 * events archived after it, and equals the source, version and checksum.
 */
describe('backup retention on servers (S3, Kafka, MongoDB)', () => {
  const prefix = `${uniqueName('bret')}.`;
  const ids = Array.from({ length: 10 }, (_, i) => `ret-agent-${i}`);
  const stores: MongoStore[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const s of stores) await s.connection.db.dropDatabase().catch(() => undefined);
    await Promise.allSettled([...stores.map((s) => s.close()), ...closers.map((c) => c())]);
  });

  it('deletes segments behind the kept checkpoint, crash-safely; restore onto servers starts from it and equals the source', async () => {
    const stack = stackEnv();
    const origin = await openServersSource(prefix, 3);
    closers.push(() => origin.close());
    const { log, s3, registry, codec } = origin;
    const archive = () => archiveUntilCaughtUp({ log, blobs: s3, codec, topicPrefix: prefix, schemas: new SchemaArchive(s3, registry), registry, segmentMaxBytes: 3000, sessionTimeoutMs: 10_000 }, 60_000);
    const retention = (blobs: BlobStore, now: number) => applyRetention(blobs, { codec, now, checkpointIntervalMs: DAY, keepDays: 1, keepMonthly: 0 });
    const T = Date.now();

    await writeAgents(log, prefix, ids, 3, 'a', true, codec);
    await archive();
    await sleep(50);
    const tA = Date.now();
    // Partitions the agents' keys landed in (the others have no manifest).
    const used = Object.values(await log.endOffsets(topicNames(prefix).events)).filter((e) => e !== '0').length;
    expect(used).toBeGreaterThan(1);
    expect((await retention(s3, T)).map((p) => [!!p.written, p.deletedSegments.length])).toEqual(Array.from({ length: used }, () => [true, 0]));
    await writeAgents(log, prefix, ids, 2, 'b', false, codec);
    await archive();

    // Two days later, S3 deletes fail after the first segment: the retention stops midway.
    await expect(retention(failingDeletes(s3, 2, /\/segments\//), T + 2 * DAY)).rejects.toThrow(/injected crash/);
    const mid = await verifyBackup({ blobs: s3, codec });
    expect({ ok: mid.ok, problems: mid.problems }).toEqual({ ok: true, problems: [] });

    const done = await retention(s3, T + 2 * DAY);
    for (const p of done) {
      expect(p.refused).toBeUndefined();
      const kept = await listCheckpoints(s3, p.partition);
      expect(kept.map((c) => c.key)).toEqual([p.floor!.key]);
      for (const v of await listManifestVersions(s3, p.partition)) {
        const m = await openManifest((await s3.get(v.key))!, v.key);
        expect({ v: v.version, present: !!(await s3.head(m.segment.key)) }).toEqual({ v: v.version, present: v.version > p.floor!.manifestVersion });
      }
    }

    // Writes after the retention, archived; then the source's heads.
    await writeAgents(log, prefix, ids.slice(0, 6), 2, 'c', false, codec);
    await archive();
    const source = await MongoStore.connect({ uri: stack.mongodbUri, database: dbName('bretsrc') });
    stores.push(source);
    await new Projector({ log, codec, store: source, blobs: s3, topicPrefix: prefix, sweepIntervalMs: 0 }).runUntilCaughtUp(undefined, 50);
    const verified = await verifyBackup({ blobs: s3, codec });
    expect({ ok: verified.ok, problems: verified.problems, starts: verified.partitions.map((p) => !!p.checkpoint) }).toEqual({ ok: true, problems: [], starts: Array.from({ length: used }, () => true) });

    const env: NodeJS.ProcessEnv = {
      KAFKA_BROKERS: stack.kafkaBrokers.join(','),
      SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
      MONGODB_URI: stack.mongodbUri,
      S3_ENDPOINT: stack.s3.endpoint,
      S3_BUCKET: stack.s3.bucket,
      S3_ACCESS_KEY: stack.s3.accessKeyId,
      S3_SECRET_KEY: stack.s3.secretAccessKey,
      REDIS_URL: stack.redisUrl,
    };
    const targetPrefix = `${uniqueName('bretr')}.`;
    const database = dbName('bretr');
    const { report } = await restoreOntoServers(env, prefix, targetPrefix, database, s3, {});
    const target = await MongoStore.connect({ uri: stack.mongodbUri, database });
    stores.push(target);
    expect({ ok: report.ok, agents: report.agents, seeded: report.seeded, mismatched: report.mismatched, published: report.published }).toEqual({
      ok: true,
      agents: ids.length,
      seeded: ids.length,
      mismatched: [],
      published: 6 * 3, // acquire + 2 updates each, archived after the checkpoint
    });
    const [want, got] = await Promise.all([source.getStates(ids), target.getStates(ids)]);
    for (const id of ids) expect({ id, v: got.get(id)?.version, c: got.get(id)?.checksum }).toEqual({ id, v: want.get(id)!.version, c: want.get(id)!.checksum });

    // Before the kept checkpoint: refused up front, naming the oldest restorable time.
    await expect(restoreOntoServers(env, prefix, `${uniqueName('breto')}.`, dbName('breto'), s3, { to: tA })).rejects.toThrow(RestorePointTooOldError);
  }, 240_000);
});
