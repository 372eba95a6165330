import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../../src/blob/s3.js';
import { agentStateFromBackup, verifyBackup } from '../../../src/backup/index.js';
import { KafkaEventLog } from '../../../src/log/kafka/index.js';
import { archiveUntilCaughtUp } from '../../unit/backup/helpers.js';
import { history, inspect, stateAt } from '../../../src/cli/commands/inspect.js';
import { eventToWire, loadSchema, RegistryCodec, valueSubject } from '../../../src/codec/index.js';
import { RegistryEventCodec } from '../../../src/client/index.js';
import { topicNames } from '../../../src/log/topics.js';
import { openAgentState } from '../../../src/index.js';
import { MongoConnection } from '../../../src/store/mongo/connection.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { expectHardCapRefused, payload } from '../../support/large-changeset.js';

/** The servers profile on the shared stack, under its own topic prefix and database. */
function serversEnv(prefix: string): Record<string, string> {
  const s = stackEnv();
  return {
    KAFKA_BROKERS: s.kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: s.schemaRegistryUrl,
    MONGODB_URI: s.mongodbUri,
    AGENTSTATE_MONGO_DATABASE: prefix.replace(/[-.]/g, '_'),
    S3_ENDPOINT: s.s3.endpoint,
    S3_BUCKET: s.s3.bucket,
    S3_ACCESS_KEY: s.s3.accessKeyId,
    S3_SECRET_KEY: s.s3.secretAccessKey,
    REDIS_URL: s.redisUrl,
    AGENTSTATE_TOPIC_PREFIX: prefix,
    ...(s.ferretdbPostgresUrl ? { AGENTSTATE_FERRETDB_POSTGRES_URL: s.ferretdbPostgresUrl } : {}),
  };
}

/**
 * Issue 12 §6 on the servers: a 5 MB update (five times the broker's 1 MB
 * limit) is claim-checked to S3 and reads back equal from MongoDB, time
 * travel, the event history and the CLI; past the hard cap it is
 * AS_TOO_LARGE naming maxChangesetBytes, as on the embedded profile.
 */
describe('large changesets on the servers (Kafka + registry + MongoDB + S3)', () => {
  it('a 5 MB update succeeds and reads back equal; past maxChangesetBytes it is AS_TOO_LARGE', async () => {
    const s = stackEnv();
    const prefix = `${uniqueName('bigcs')}.`;
    const env = serversEnv(prefix);
    const big = payload(5 * 1000 * 1000);
    const as = await openAgentState({ env, profile: 'servers', projector: 'in-process' });
    try {
      expect(as.profile).toBe('servers');
      await as.client.createAgent('big-1', { agentType: 't' });
      expect((await as.client.memoryUpdated('big-1', { big })).newVersion).toBe(2);
      await as.client.memoryUpdated('big-1', { small: 1 });
      const current = await as.manager.getCurrentState('big-1', { minVersion: 3 });
      expect(isDeepStrictEqual(current?.state.memory, { big, small: 1 })).toBe(true);
      const [event] = await as.manager.getEventHistory('big-1', { fromVersion: 2, toVersion: 2 });
      expect(isDeepStrictEqual(event?.changeset, [{ path: '/memory/big', op: 'create', newValue: big }])).toBe(true);
      expect(isDeepStrictEqual((await as.manager.projectState('big-1', 2)).state.memory, { big })).toBe(true);

      await expectHardCapRefused(as.client, 'big-1', 3);
    } finally {
      await as.close();
    }

    // The blob is in the deployment's S3 prefix, content-addressed; the backup (on the same S3 prefix, as the CLI keeps it)
    // copies it before it names the segment, and verify --deep folds the 5 MB event from that copy.
    const blobs = new S3BlobStore({ ...s.s3, prefix, createBucket: false });
    const keysUnder = async (p: string): Promise<string[]> => {
      const keys: string[] = [];
      for await (const b of blobs.list(p)) keys.push(b.key);
      return keys;
    };
    const keys = await keysUnder('changesets/');
    expect(keys).toEqual([expect.stringMatching(/^changesets\/big-1\/[0-9a-f]{64}$/) as unknown]);
    const log = new KafkaEventLog({ brokers: s.kafkaBrokers });
    try {
      const codec = await RegistryEventCodec.create(new RegistryCodec({ url: s.schemaRegistryUrl }), topicNames(prefix).events);
      await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix });
      expect(await keysUnder('backup/changesets/')).toEqual([`backup/${keys[0]!}`]);
      const verified = await verifyBackup({ blobs, codec, deep: true });
      expect([verified.ok, verified.deep?.folded, verified.deep?.rejected]).toEqual([true, 1, {}]);
      const fromBackup = await agentStateFromBackup(blobs, codec, 'big-1', Number.MAX_SAFE_INTEGER);
      expect(fromBackup.version).toBe(3);
      expect(isDeepStrictEqual((fromBackup.state as { memory: unknown }).memory, { big, small: 1 })).toBe(true);
    } finally {
      await log.close();
      await blobs.close();
    }

    // The CLI reads Kafka and fetches the changeset from S3 the same way.
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const lines: string[] = [];
      const out = (line: string): void => void lines.push(line);
      expect(await inspect(['big-1', '--backend', 'servers', '--json'], out)).toBe(0);
      const head = JSON.parse(lines.at(-1)!) as { version: number; state: { memory: unknown } };
      expect(head.version).toBe(3);
      expect(isDeepStrictEqual(head.state.memory, { big, small: 1 })).toBe(true);
      expect(await stateAt(['big-1', '--at', '2', '--backend', 'servers', '--json'], out)).toBe(0);
      expect(isDeepStrictEqual((JSON.parse(lines.at(-1)!) as { state: { memory: unknown } }).state.memory, { big })).toBe(true);
      expect(await history(['big-1', '--backend', 'servers', '--json'], out)).toBe(0);
      expect((JSON.parse(lines.at(-1)!) as Array<{ version: number }>).map((r) => r.version)).toEqual([1, 2, 3]);
    } finally {
      for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it("the MongoDB mirror's query view of a claim-checked changeset lists every change, with the values up to 1 KiB", async () => {
    const prefix = `${uniqueName('bigcs-mirror')}.`;
    const env = serversEnv(prefix);
    const big = payload(700 * 1024);
    const as = await openAgentState({ env, profile: 'servers', projector: 'in-process' });
    try {
      await as.client.createAgent('mir-1', { agentType: 't' });
      const r = await as.client.updateState('mir-1', [
        { op: 'update', path: '/status', newValue: 'error' },
        { op: 'create', path: '/memory/big', newValue: big },
      ]);
      await as.manager.getCurrentState('mir-1', { minVersion: r.newVersion });
      const [event] = await as.manager.getEventHistory('mir-1', { fromVersion: 2, toVersion: 2 });
      expect(event?.changeset.map((c) => c.path)).toEqual(['/status', '/memory/big']);
    } finally {
      await as.close();
    }
    const connection = await MongoConnection.connect({ uri: env.MONGODB_URI!, database: env.AGENTSTATE_MONGO_DATABASE! });
    try {
      const doc = await connection.db.collection<{ _id: string; eventData: { changeset: unknown[] }; body: { buffer: Uint8Array } }>('state_events').findOne({ _id: 'mir-1:2' });
      // The body carries only the reference; the query view has both changes, the status value, not the 700 KiB one.
      expect(Buffer.from(doc!.body.buffer).toString('utf8')).toContain('"changesetRef"');
      expect(doc!.eventData.changeset).toEqual([
        { field: '/status', changeType: 'update', newValue: '"error"' },
        { field: '/memory/big', changeType: 'create' },
      ]);
      await connection.db.dropDatabase();
    } finally {
      await connection.close();
    }
  });

  it('the StateEvent schema with changesetRef registers as BACKWARD compatible over the one before it, and records of that one still decode', async () => {
    const registry = new RegistryCodec({ url: stackEnv().schemaRegistryUrl });
    const events = topicNames(`${uniqueName('bigcs-compat')}.`).events;
    // The schema as it was before changesetRef: every field but the last.
    const current = loadSchema('StateEvent') as { fields: Array<{ name: string }> };
    expect(current.fields.at(-1)?.name).toBe('changesetRef');
    const before = { ...current, fields: current.fields.slice(0, -1) };
    const oldId = await registry.register(valueSubject(events), before, { compatibility: 'BACKWARD' });
    const codec = await RegistryEventCodec.create(registry, events);
    const event = {
      eventId: 'e-1',
      instanceId: 'a-1',
      version: 2,
      writerEpoch: 1,
      timestamp: 1_700_000_000_000,
      eventType: 'memory_updated',
      source: 'test',
      causationId: null,
      correlationId: null,
      changeset: [{ path: '/memory/n', op: 'create' as const, newValue: 1 }],
      metadata: {},
      stateChecksum: 'c',
      replay: null,
      replayable: true,
    };
    const { changesetRef: _absent, ...oldWire } = eventToWire(event as never);
    const decoded = await codec.decode(await registry.encode(oldId, oldWire));
    expect(decoded).toEqual(event);
    expect('changesetRef' in decoded).toBe(false);
  });
});
