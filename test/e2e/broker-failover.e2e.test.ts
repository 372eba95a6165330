import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../src/blob/s3.js';
import { AgentStateClient, JsonEventCodec } from '../../src/client/index.js';
import type { StateEvent } from '../../src/domain/index.js';
import { KafkaEventLog } from '../../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../../src/log/topics.js';
import { Projector } from '../../src/projector/index.js';
import { MongoStore } from '../../src/store/mongo/index.js';
import { stackEnv, uniqueName } from '../support/env.js';
import { eventsByAgent, expectAckedAppliedOnce, expectStoreEqualsFold } from '../support/projection-check.js';

const run = promisify(execFile);
const stack = join(import.meta.dirname, '..', '..', 'scripts', 'stack');
const started = Date.now();
const note = (line: string) => process.stderr.write(`[failover +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);
const AGENTS = 20;

/**
 * A private 3-broker Kafka (RF 3, min.insync.replicas=2: `scripts/stack up
 * --kafka-brokers 3`): the leader of the busiest events partitions is killed
 * with SIGKILL under write load and stays dead. Writers go on after a leader
 * election, no acknowledged write is lost or doubled, and the projector,
 * working through the failover, ends with every agent equal to the fold
 * (issue 11, Scale-out). The pause writers saw is logged.
 */
describe('3-broker Kafka: partition leader killed with SIGKILL under load', () => {
  const shared = stackEnv();
  const instance = uniqueName('failover');
  // Broker i listens on port+2(i-1), its controller on the next port. Below Linux's ephemeral range
  // (32768-60999): CI at f99fdea failed when an outgoing connection held one of them ('Address already in use').
  const port = 22_000 + 6 * Math.floor(Math.random() * 600);
  const env = { ...process.env, AGENTSTATE_STACK_INSTANCE: instance, AGENTSTATE_STACK_KAFKA_PORT: String(port) };
  const stackDir = process.env.AGENTSTATE_STACK_DIR ?? join(homedir(), '.cache', 'agentstate', 'stack');
  const brokers = [0, 1, 2].map((i) => `127.0.0.1:${port + 2 * i}`);
  const prefix = 'failover.';
  const topics = topicNames(prefix);
  const database = uniqueName('failover').replace(/-/g, '_');
  let log: KafkaEventLog;

  beforeAll(async () => {
    await run('bash', [stack, 'up', '--only', 'kafka', '--kafka-brokers', '3'], { env, timeout: 600_000 });
    // The first group request makes the cluster create __consumer_offsets (50
    // partitions x 3 replicas), which can take longer than kafkajs's retries on
    // a busy machine; clients that gave up on it never recovered. Wait for a
    // coordinator before any client starts.
    const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING, retry: { retries: 2 } }).admin();
    await admin.connect();
    for (const deadline = Date.now() + 180_000; ; await sleep(1000)) {
      try {
        await admin.describeGroups(['failover-warmup']);
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
    }
    await admin.disconnect();
    note('3 brokers up, group coordinator ready');
    log = new KafkaEventLog({ brokers });
    await log.setup(topicSpecs({ prefix, partitions: 3, replicationFactor: 3 }));
  });
  afterAll(async () => {
    await log?.close();
    await run('bash', [stack, 'down'], { env }).catch(() => undefined);
    rmSync(join(stackDir, 'instances', instance), { recursive: true, force: true });
    const store = await MongoStore.connect({ uri: shared.mongodbUri, database });
    await store.connection.db.dropDatabase().catch(() => undefined);
    await store.close();
  });

  it('writers resume after the election; nothing acknowledged is lost; the projector catches up', async () => {
    const codec = new JsonEventCodec();
    const logger = pino({ level: 'warn' }, pino.destination(2));
    const store = await MongoStore.connect({ uri: shared.mongodbUri, database });
    await store.setup();
    const blobs = new S3BlobStore({ ...shared.s3, prefix: `${database}/` });
    await blobs.setup();
    const projector = new Projector({ log, codec, store, blobs, topicPrefix: prefix, sessionTimeoutMs: 6000, sweepIntervalMs: 0, logger });
    const stopProjector = new AbortController();
    const projecting = projector.run(stopProjector.signal);

    const client = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, decisionTimeoutMs: 30_000, logger });
    const ids = Array.from({ length: AGENTS }, (_, i) => `f-${i}`);
    await Promise.all(ids.map((id) => client.createAgent(id, { agentType: 'worker' })));
    const acked: Array<{ event: StateEvent; at: number }> = [];
    let failures = 0;
    let stop = false;
    const writers = ids.map(async (id) => {
      let n = 0;
      while (!stop) {
        try {
          const r = await client.updateState(id, (d) => void (d.memory[`n${n++ % 8}`] = Date.now()));
          const at = Date.now();
          for (const event of r.generatedEvents) acked.push({ event, at });
        } catch (err) {
          failures++;
          note(`writer ${id}: ${(err as Error).message}`);
          await sleep(200);
        }
      }
    });
    for (let i = 0; acked.length < 100; i++) {
      expect(i, 'fewer than 100 acknowledged updates in 60 s before the kill').toBeLessThan(600);
      await sleep(100);
    }

    // The broker leading the most events partitions: all of them busy (agents spread over the 3).
    const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const meta = await admin.fetchTopicMetadata({ topics: [topics.events] });
    await admin.disconnect();
    const leaders = meta.topics[0]!.partitions.map((p) => p.leader);
    const victim = [1, 2, 3].sort((x, y) => leaders.filter((l) => l === y).length - leaders.filter((l) => l === x).length)[0]!;
    const pid = Number(readFileSync(join(stackDir, 'instances', instance, 'run', `kafka-${victim}.pid`), 'utf8').split(' ')[0]);
    const before = acked.length;
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    note(`killed broker ${victim} (pid ${pid}), leader of partitions ${JSON.stringify(leaders.flatMap((l, p) => (l === victim ? [p] : [])))}, after ${before} acknowledged updates`);

    // Writers continue on the two survivors (min.insync.replicas=2 still met).
    for (let i = 0; acked.length < before + 200; i++) {
      expect(i, `writers did not resume within 90 s of the kill (${acked.length - before} acknowledged since)`).toBeLessThan(900);
      await sleep(100);
    }
    stop = true;
    await Promise.all(writers);
    await client.close();
    // The pause: the longest stretch without any acknowledgement, from just before the kill on.
    const times = [killedAt, ...acked.map((a) => a.at).filter((t) => t >= killedAt)].sort((x, y) => x - y);
    const pause = Math.max(...times.slice(1).map((t, i) => t - times[i]!));
    const firstAfter = (times[1] ?? killedAt) - killedAt;
    note(`writers' longest pause after the kill: ${pause} ms (first acknowledgement ${firstAfter} ms after it); ${failures} failed updates retried; ${acked.length} acknowledged`);
    expect(pause).toBeLessThan(60_000);

    // Nothing acknowledged is lost or applied twice (a record the producer re-sent to the new leader may be in the log twice).
    const perAgent = await eventsByAgent(log, codec, topics.events);
    const doubled = expectAckedAppliedOnce(
      perAgent,
      acked.map(({ event }) => event),
    );
    note(`${doubled.length} records in the log twice after the election, each rejected by the fold as a duplicate`);

    // The projector, running through the failover, catches up with all of it.
    const end = await log.endOffsets(topics.events);
    for (const deadline = Date.now() + 120_000; ; await sleep(250)) {
      const committed = await log.committedOffsets(`${prefix}projector`, topics.events);
      if (Object.entries(end).every(([p, o]) => BigInt(committed[Number(p)] ?? '0') >= BigInt(o))) break;
      expect(Date.now() < deadline, `the projector did not catch up within 120 s: ${JSON.stringify(committed)} of ${JSON.stringify(end)}`).toBe(true);
    }
    stopProjector.abort();
    await projecting;
    try {
      // A write whose append failed in the election and was retried can leave a rejected
      // record (a duplicate version) in the log; the writer reported it as not accepted,
      // so it may be rejected, but nothing acknowledged may be.
      // A later copy of a doubled record is rejected as a duplicate (checked above for the acknowledged ones).
      const ackedIds = new Set(acked.map(({ event }) => event.eventId));
      const doubledIds = new Set(doubled.map((c) => c[0]!.eventId));
      await expectStoreEqualsFold(store, blobs, perAgent, (e) => !ackedIds.has(e.eventId) || doubledIds.has(e.eventId));
    } finally {
      await blobs.close();
      await store.close();
    }
  });
});
