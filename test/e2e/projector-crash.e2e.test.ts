import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../src/blob/s3.js';
import { AgentStateClient, RegistryEventCodec } from '../../src/client/index.js';
import { Keyring, MasterKeySet, RegistryCodec } from '../../src/codec/index.js';
import { fold } from '../../src/domain/index.js';
import { KafkaEventLog } from '../../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../../src/log/topics.js';
import { MongoDataKeyStore, MongoStore } from '../../src/store/mongo/index.js';
import { stackEnv, uniqueName } from '../support/env.js';
import { eventsByAgent, expectStoreEqualsFold, spawnProjector, type ProjectorProcess } from '../support/projection-check.js';
import { projectorServiceEnv } from '../support/service-env.js';

const AGENTS = 60;
const KILLS = 10;

describe('projector crash safety (SIGKILL under load)', () => {
  const env = stackEnv();
  const prefix = `${uniqueName('crash')}.`;
  const database = uniqueName('crash').replace(/-/g, '_');
  const topics = topicNames(prefix);
  // Snapshots are encrypted: data keys made by processes that are then killed must still open them.
  const masterKeys = `m1:${randomBytes(32).toString('base64')}`;
  let log: KafkaEventLog;
  let codec: RegistryEventCodec;

  beforeAll(async () => {
    log = new KafkaEventLog({ brokers: env.kafkaBrokers });
    await log.setup(topicSpecs({ prefix, partitions: 6 }));
    codec = await RegistryEventCodec.create(new RegistryCodec({ url: env.schemaRegistryUrl }), topics.events);
  });
  afterAll(async () => {
    const store = await MongoStore.connect({ uri: env.mongodbUri, database });
    await store.connection.db.dropDatabase().catch(() => undefined);
    await store.close();
    await log.close();
  });

  const projector = (args: string[] = []): ProjectorProcess =>
    spawnProjector(
      {
        ...projectorServiceEnv(env, prefix, database),
        // Short sessions: a killed member is dropped from the group sooner (the dev stack allows 1 s).
        PROJECTOR_SESSION_TIMEOUT_MS: '3000',
        SNAPSHOT_EVERY_EVENTS: '25',
        AGENTSTATE_MASTER_KEYS: masterKeys,
      },
      args,
    );

  it(`state equals the fold of the log after ${KILLS} SIGKILLs at random moments, nothing skipped or applied twice`, async () => {
    const writer = await AgentStateClient.connect({ log, codec, topicPrefix: prefix });
    const ids = Array.from({ length: AGENTS }, (_, i) => `crash-${i}`);
    await Promise.all(ids.map((id) => writer.createAgent(id, { agentType: 'worker' })));
    let loading = true;
    let rounds = 0;
    const load = (async () => {
      while (loading) {
        await Promise.all(
          ids.map((id) =>
            writer.updateState(id, (d) => {
              d.memory.round = rounds;
              d.memory[`slot${rounds % 5}`] = `${id} round ${rounds}`;
            }),
          ),
        );
        rounds++;
        await sleep(250);
      }
    })();

    const committedTotal = async (): Promise<bigint> => Object.values(await log.committedOffsets(`${prefix}projector`, topics.events)).reduce((n, o) => n + BigInt(o), 0n);
    for (let k = 0; k < KILLS; k++) {
      const p = projector();
      // Kill it while it works: after it has committed a batch, at a random moment.
      const before = await committedTotal();
      const deadline = Date.now() + 60_000;
      while ((await committedTotal()) <= before) {
        expect(p.child.exitCode, p.output()).toBeNull(); // running, not crashed on its own
        expect(Date.now() < deadline, `projector ${k} committed nothing within 60 s\n${p.output()}`).toBe(true);
        await sleep(100);
      }
      await sleep(Math.random() * 1500);
      expect(p.child.exitCode, p.output()).toBeNull();
      p.child.kill('SIGKILL');
      await p.exit;
    }
    loading = false;
    await load;
    await writer.close();

    const final = projector(['--until-caught-up']);
    const code = await final.exit;
    expect(code, final.output()).toBe(0);

    // Expected: the fold of each agent's log.
    const perAgent = await eventsByAgent(log, codec, topics.events);
    const totalEvents = [...perAgent.values()].reduce((n, l) => n + l.length, 0);
    const store = await MongoStore.connect({ uri: env.mongodbUri, database });
    const blobs = new S3BlobStore({ ...env.s3, prefix });
    try {
      expect([...perAgent.keys()].sort()).toEqual([...ids].sort());
      // Version, checksum and state equal the fold; the mirror holds each version exactly once.
      await expectStoreEqualsFold(store, blobs, perAgent);
      // No redelivered event was mistaken for a duplicate.
      const dlq = await log.endOffsets(topics.dlq);
      expect(Object.values(dlq).every((o) => o === '0')).toBe(true);
      // Policy snapshots taken across crashes restore to the fold at their version.
      const snaps = await store.listSnapshots(ids[0]!);
      expect(snaps.length).toBeGreaterThan(0);
      const { Snapshotter } = await import('../../src/projector/index.js');
      const keyring = new Keyring({ masterKeys: MasterKeySet.parse(masterKeys), store: new MongoDataKeyStore(store.connection) });
      const snapshotter = new Snapshotter(store, blobs, { keyring });
      for (const s of snaps) {
        expect((await blobs.get(s.blobKey))!.subarray(0, 4).toString('latin1'), s.snapshotId).toBe('ASEF');
        expect(await snapshotter.load(s)).toEqual(fold(perAgent.get(ids[0]!)!.slice(0, s.version)).projection!.state);
      }
      console.info(`[crash] ${KILLS} kills, ${rounds} rounds, ${totalEvents} events, all ${AGENTS} agents equal to the fold`);
    } finally {
      await blobs.close();
      await store.close();
    }
  });
});
