import { afterAll, describe, expect, it } from 'vitest';
import { SchemaArchive, readHead, trimLog } from '../../../src/backup/index.js';
import { openBackend } from '../../../src/cli/backend.js';
import { archiveOpener } from '../../../src/cli/backup-sources.js';
import { scanLog } from '../../../src/cli/scan.js';
import { AgentStateClient } from '../../../src/client/index.js';
import { LogMismatchError } from '../../../src/errors.js';
import { projectorGroup, topicNames } from '../../../src/log/topics.js';
import { Projector } from '../../../src/projector/index.js';
import { MongoStore } from '../../../src/store/mongo/store.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { openServersSource } from '../../support/servers-source.js';
import { archiveUntilCaughtUp, writeAgents } from '../../unit/backup/helpers.js';

const dbName = (tag: string) => uniqueName(tag).replace(/[-.]/g, '_');

/**
 * The events topic capped behind the backup on the servers profile: Kafka's
 * DeleteRecords moves the partitions' start to what S3 holds and the
 * projector applied; the fold of the whole history (the part below the start
 * from S3) equals the projector's store; a writer continues its agents from
 * the state topic; a projector with no position refuses the capped log.
 */
describe('capping the events topic behind the backup (Kafka, S3, MongoDB)', () => {
  const prefix = `${uniqueName('btrim')}.`;
  const topic = topicNames(prefix).events;
  const ids = Array.from({ length: 8 }, (_, i) => `trim-agent-${i}`);
  const closers: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  });

  it('deletes through Kafka only what S3 holds and the projector applied; history and writers carry on', async () => {
    const stack = stackEnv();
    const source = await openServersSource(prefix, 3);
    closers.push(() => source.close());
    const { log, s3, registry, codec } = source;
    const store = await MongoStore.connect({ uri: stack.mongodbUri, database: dbName('btrim') });
    closers.push(async () => {
      await store.connection.db.dropDatabase();
      await store.close();
    });
    const project = () => new Projector({ log, codec, store, blobs: s3, topicPrefix: prefix, sweepIntervalMs: 0 }).runUntilCaughtUp(undefined, 50);

    await writeAgents(log, prefix, ids, 3, 'a', true, codec);
    await project();
    await archiveUntilCaughtUp({ log, blobs: s3, codec, topicPrefix: prefix, schemas: new SchemaArchive(s3, registry), registry, segmentMaxBytes: 3000, sessionTimeoutMs: 10_000 }, 60_000);
    const ends = await log.endOffsets(topic);
    // Kafka's offsets by time: nothing is an hour old, so the age keeps everything.
    expect(await log.offsetsAtTime(topic, Date.now() - 3_600_000)).toEqual(Object.fromEntries(Object.keys(ends).map((p) => [Number(p), '0'])));
    expect(await trimLog({ log, blobs: s3, topic, keepMs: 3_600_000, groups: [projectorGroup(prefix)], now: Date.now() })).toEqual([]);

    const trimmed = await trimLog({ log, blobs: s3, topic, keepMs: 0, groups: [projectorGroup(prefix)], now: Date.now() });
    const used = Object.entries(ends).filter(([, e]) => e !== '0');
    expect(trimmed.map((t) => t.partition).sort()).toEqual(used.map(([p]) => Number(p)).sort());
    const starts = await log.startOffsets(topic);
    for (const [p, end] of used) {
      expect(starts[Number(p)]).toBe(end);
      expect((await readHead(s3, Number(p))).nextOffset).toBe(end);
    }

    // The whole history folded (below the start from S3) equals the store the projector built.
    const env = { ...process.env, AGENTSTATE_TOPIC_PREFIX: prefix, KAFKA_BROKERS: stack.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl };
    const backend = await openBackend({ dataDir: '.', backend: 'servers', env, readOnly: true });
    closers.push(() => backend.close());
    await expect(scanLog(backend)).rejects.toThrow(LogMismatchError);
    const scan = await scanLog(backend, { archive: archiveOpener(backend, '.', env) });
    const rows = await store.getStates(ids);
    expect(scan.agents.size).toBe(ids.length);
    for (const id of ids) expect({ id, v: scan.agents.get(id)?.version, c: scan.agents.get(id)?.checksum }).toEqual({ id, v: rows.get(id)!.version, c: rows.get(id)!.checksum });

    // A writer takes the heads from the state topic and continues; the projector applies it.
    const writer = await AgentStateClient.connect({ log, codec, topicPrefix: prefix });
    try {
      await writer.acquire(ids[0]!);
      const r = await writer.updateState(ids[0]!, (d) => void (d.memory.after = 'the cap'));
      expect(r.newVersion).toBe(rows.get(ids[0]!)!.version + 2);
    } finally {
      await writer.close();
    }
    await project();
    expect((await store.getState(ids[0]!))?.version).toBe(rows.get(ids[0]!)!.version + 2);

    // A projector group with no position would build from the tail: refused, naming the restore.
    const other = await MongoStore.connect({ uri: stack.mongodbUri, database: dbName('btrimo') });
    closers.push(async () => {
      await other.connection.db.dropDatabase();
      await other.close();
    });
    const fresh = new Projector({ log, codec, store: other, blobs: s3, topicPrefix: prefix, group: `${prefix}other-projector`, sweepIntervalMs: 0 });
    await expect(fresh.runUntilCaughtUp(undefined, 50)).rejects.toThrow(/agentstate restore/);
  }, 180_000);
});
