import { setTimeout as sleep } from 'node:timers/promises';
import { AssignerProtocol, Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../src/blob/s3.js';
import { AgentStateClient, RegistryEventCodec } from '../../src/client/index.js';
import { RegistryCodec } from '../../src/codec/index.js';
import { KafkaEventLog } from '../../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../../src/log/topics.js';
import { MongoStore } from '../../src/store/mongo/index.js';
import { stackEnv, uniqueName } from '../support/env.js';
import { eventsByAgent, expectStoreEqualsFold, spawnProjector, type ProjectorProcess } from '../support/projection-check.js';
import { projectorServiceEnv } from '../support/service-env.js';

const AGENTS = 30;
const started = Date.now();
const note = (line: string) => process.stderr.write(`[scale-out +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);

/**
 * Two projector processes share one consumer group under write load; one is
 * killed with SIGKILL. Its partitions move to the survivor, which carries on
 * from the committed offsets and the store's heads: every agent ends equal to
 * the fold of its log, each version mirrored once (issue 11, Scale-out).
 */
describe('projector scale-out: two processes in one group, one killed', () => {
  const env = stackEnv();
  const prefix = `${uniqueName('scale')}.`;
  const database = uniqueName('scale').replace(/-/g, '_');
  const topics = topicNames(prefix);
  const group = `${prefix}projector`;
  let log: KafkaEventLog;
  let codec: RegistryEventCodec;
  let admin: Admin;
  const processes: ProjectorProcess[] = [];
  let stopLoad: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    log = new KafkaEventLog({ brokers: env.kafkaBrokers });
    await log.setup(topicSpecs({ prefix, partitions: 6 }));
    codec = await RegistryEventCodec.create(new RegistryCodec({ url: env.schemaRegistryUrl }), topics.events);
    admin = new Kafka({ brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
  });
  afterAll(async () => {
    await stopLoad?.();
    for (const p of processes) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    const store = await MongoStore.connect({ uri: env.mongodbUri, database });
    await store.connection.db.dropDatabase().catch(() => undefined);
    await store.close();
    await admin?.disconnect();
    await log?.close();
  });

  const start = (): ProjectorProcess => {
    const p = spawnProjector({
      ...projectorServiceEnv(env, prefix, database),
      // Short sessions: the killed member leaves the group in seconds (the dev stack allows 1 s).
      PROJECTOR_SESSION_TIMEOUT_MS: '3000',
      SNAPSHOT_EVERY_EVENTS: '20',
    });
    processes.push(p);
    return p;
  };

  let seen = '';
  /** Partitions of the events topic per member, when the group is stable. */
  const assignment = async (): Promise<number[][] | undefined> => {
    const { groups } = await admin.describeGroups([group]);
    const g = groups[0];
    const members = g?.members.map((m) => (m.memberAssignment.length > 0 ? (AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topics.events] ?? []) : []));
    seen = `group ${g?.state}: ${JSON.stringify(members)}`;
    return g?.state === 'Stable' ? members : undefined;
  };
  const committed = async (): Promise<Record<number, string>> => log.committedOffsets(group, topics.events);

  it('moves the killed process partitions to the survivor; nothing lost or doubled', async () => {
    const writer = await AgentStateClient.connect({ log, codec, topicPrefix: prefix });
    const ids = Array.from({ length: AGENTS }, (_, i) => `scale-${i}`);
    await Promise.all(ids.map((id) => writer.createAgent(id, { agentType: 'worker' })));
    let loading = true;
    let rounds = 0;
    const load = (async () => {
      while (loading) {
        await Promise.all(ids.map((id) => writer.updateState(id, (d) => void (d.memory[`r${rounds % 4}`] = `${id} round ${rounds}`))));
        rounds++;
        await sleep(200);
      }
    })();
    stopLoad = async () => {
      loading = false;
      await load.catch(() => undefined);
      await writer.close();
    };

    const a = start();
    const b = start();
    // Both members hold partitions and the group commits.
    let split: number[][] | undefined;
    for (const deadline = Date.now() + 90_000; ; await sleep(250)) {
      expect(Date.now() < deadline, `the two projectors did not share the partitions within 90 s (${seen}, committed ${JSON.stringify(await committed())})\n${a.output()}\n${b.output()}`).toBe(true);
      expect(a.child.exitCode ?? b.child.exitCode, a.output() + b.output()).toBeNull();
      split = await assignment();
      if (split?.length === 2 && split.every((ps) => ps.length > 0) && Object.keys(await committed()).length === 6) break;
    }
    note(`two members: partitions ${JSON.stringify(split)}`);

    // Kill one while it works.
    await sleep(500 + Math.random() * 1000);
    const atKill = await committed();
    b.child.kill('SIGKILL');
    await b.exit;
    note(`killed one projector at ${rounds} rounds; committed ${JSON.stringify(atKill)}`);

    // The survivor takes every partition and moves each one past where it was at the kill.
    for (const deadline = Date.now() + 90_000; ; await sleep(250)) {
      expect(Date.now() < deadline, `the survivor did not take over within 90 s (${seen}, committed ${JSON.stringify(await committed())})\n${a.output()}`).toBe(true);
      expect(a.child.exitCode, a.output()).toBeNull();
      const now = await committed();
      const members = await assignment();
      if (members?.length === 1 && members[0]!.length === 6 && Object.entries(atKill).every(([p, o]) => BigInt(now[Number(p)] ?? '0') > BigInt(o))) break;
    }
    note('the survivor owns all 6 partitions and has moved each past the kill point');

    await stopLoad();
    stopLoad = undefined;
    // The survivor catches up with everything written, then stops cleanly.
    const end = await log.endOffsets(topics.events);
    for (const deadline = Date.now() + 120_000; ; await sleep(250)) {
      expect(Date.now() < deadline, `the survivor did not catch up within 120 s\n${a.output()}`).toBe(true);
      const now = await committed();
      if (Object.entries(end).every(([p, o]) => BigInt(now[Number(p)] ?? '0') >= BigInt(o))) break;
    }
    a.child.kill('SIGTERM');
    expect(await a.exit, a.output()).toBe(0);

    const perAgent = await eventsByAgent(log, codec, topics.events);
    expect(perAgent.size).toBe(AGENTS);
    const store = await MongoStore.connect({ uri: env.mongodbUri, database });
    const blobs = new S3BlobStore({ ...env.s3, prefix });
    try {
      await expectStoreEqualsFold(store, blobs, perAgent);
    } finally {
      await blobs.close();
      await store.close();
    }
    // No redelivered event was mistaken for a duplicate or a gap.
    expect(Object.values(await log.endOffsets(topics.dlq)).every((o) => o === '0')).toBe(true);
    note(`${rounds} rounds, ${[...perAgent.values()].reduce((n, l) => n + l.length, 0)} events, all ${AGENTS} agents equal to the fold`);
  });
});
