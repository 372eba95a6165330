/**
 * `npm run bench -- project`: projection throughput into MongoDB (FerretDB in
 * the dev stack). Events are realistic (src/corpus: growing LLM-agent states,
 * Avro on the wire), appended round-robin across agents. Scenarios, same run,
 * same servers:
 *   - projector: Projector.runUntilCaughtUp into an empty database (store +
 *     mirror + cache + state topic + policy snapshots);
 *   - rebuild: the group reset to earliest, into another empty database;
 *   - naive: one `updateOne` upsert per event (read, fold, write, no batching),
 *     time-boxed, as the baseline the batched design is measured against.
 * Options: --quick, --agents N, --events N (per agent).
 */
import { RedisCache } from '../src/cache/redis.js';
import { canonicalJson, step, type Projection } from '../src/domain/index.js';
import { Projector, resetProjectorGroup } from '../src/projector/index.js';
import { MongoConnection, MongoStore } from '../src/store/mongo/index.js';
import { chatWindowEvents } from './lib/chat-log.js';
import { appendRoundRobin, corpusEvents } from './lib/corpus-log.js';
import { intArg, pipelineBench } from './lib/pipeline.js';
import { writeResults } from './lib/results.js';
import { markdownTable, num } from './lib/table.js';

const quick = process.argv.includes('--quick');
/** `chat` (default): ~22 KB chat-window states (issue 11); `corpus`: growing corpus states up to 8 KB. */
const WORKLOAD = process.argv.includes('--corpus') ? 'corpus' : 'chat';
const AGENTS = intArg('--agents', WORKLOAD === 'chat' ? (quick ? 20 : 50) : quick ? 100 : 500);
const PER_AGENT = intArg('--events', WORKLOAD === 'chat' ? (quick ? 50 : 200) : quick ? 10 : 30);
const NAIVE_SECONDS = quick ? 10 : 30;

interface Row {
  scenario: string;
  events: number;
  seconds: number;
  eventsPerSec: number;
}

async function main(): Promise<void> {
  const { env, stamp, prefix, topics, log, codec, blobs } = await pipelineBench('project');
  const cache = new RedisCache({ url: env.redisUrl, prefix: `${prefix}cache:` });
  const databases: string[] = [];
  const rows: Row[] = [];

  process.stderr.write(`generating ${AGENTS} x ${PER_AGENT} events...\n`);
  const histories = WORKLOAD === 'chat' ? chatWindowEvents(AGENTS, PER_AGENT) : corpusEvents(AGENTS, PER_AGENT);
  const total = await appendRoundRobin(log, codec, topics.events, histories);

  const project = async (scenario: string): Promise<void> => {
    const database = `bench_project_${stamp}_${databases.length}`;
    databases.push(database);
    const store = await MongoStore.connect({ uri: env.mongodbUri, database });
    await store.setup();
    const projector = new Projector({ log, codec, store, blobs, cache, topicPrefix: prefix, group: `${prefix}projector`, sweepIntervalMs: 0 });
    const t0 = performance.now();
    await projector.runUntilCaughtUp();
    const seconds = (performance.now() - t0) / 1000;
    rows.push({ scenario, events: total, seconds, eventsPerSec: total / seconds });
    await store.close();
  };
  process.stderr.write('projector...\n');
  await project('projector (batched sinks)');
  await resetProjectorGroup({ log, group: `${prefix}projector`, target: { to: 'earliest' }, topicPrefix: prefix });
  process.stderr.write('rebuild...\n');
  await project('rebuild (reset to earliest)');

  process.stderr.write('naive baseline...\n');
  const naiveDb = `bench_project_${stamp}_naive`;
  databases.push(naiveDb);
  const conn = await MongoConnection.connect({ uri: env.mongodbUri, database: naiveDb });
  const coll = conn.db.collection<{ _id: string; version: number; checksum: string; state: string }>('agent_states');
  const heads = new Map<string, Projection>();
  let applied = 0;
  const t0 = performance.now();
  const deadline = t0 + NAIVE_SECONDS * 1000;
  const end = await log.endOffsets(topics.events);
  outer: for (const [p, until] of Object.entries(end)) {
    for (const record of await log.read(topics.events, Number(p), '0', until)) {
      if (performance.now() > deadline) break outer;
      const event = await codec.decode(record.value!);
      const r = step(heads.get(record.key), event);
      if (!r.accept) continue;
      heads.set(record.key, r.projection);
      await coll.updateOne(
        { _id: record.key },
        { $set: { version: r.projection.version, checksum: r.projection.checksum, state: canonicalJson(r.projection.state) } },
        { upsert: true },
      );
      applied++;
    }
  }
  const naiveSeconds = (performance.now() - t0) / 1000;
  rows.push({ scenario: `naive updateOne per event (${NAIVE_SECONDS}s box)`, events: applied, seconds: naiveSeconds, eventsPerSec: applied / naiveSeconds });
  await conn.close();

  const table = markdownTable(rows, [
    { header: 'scenario', value: (r) => r.scenario, align: 'left' },
    { header: 'events', value: (r) => r.events },
    { header: 'seconds', value: (r) => num(r.seconds, 1) },
    { header: 'events/s', value: (r) => num(r.eventsPerSec, 0) },
  ]);
  const what = WORKLOAD === 'chat' ? '~22 KB chat-window states' : 'corpus states up to 8 KB';
  process.stdout.write(`\nprojection: ${AGENTS} agents x ${PER_AGENT} events (${what}, Avro), 6 partitions\n\n${table}\n\n`);
  process.stdout.write(`results: ${writeResults('project', { workload: WORKLOAD, agents: AGENTS, eventsPerAgent: PER_AGENT, rows })}\n`);

  for (const database of databases) {
    const c = await MongoConnection.connect({ uri: env.mongodbUri, database });
    await c.db.dropDatabase().catch(() => undefined);
    await c.close();
  }
  await cache.close();
  await blobs.close();
  await log.close();
}

await main();
