/**
 * `npm run bench -- project`: projection throughput into MongoDB (FerretDB in
 * the dev stack), issue 11. Events go to the log first (Avro), appended
 * round-robin across agents; then, same run, same servers, same records:
 *   - projector: Projector.runUntilCaughtUp in this process into an empty
 *     database (store + mirror + cache + state topic + policy snapshots), with
 *     the wall time of each stage (the stages of a batch overlap);
 *   - rebuild: the group reset to earliest, into another empty database;
 *   - on FerretDB/PostgreSQL, the same rebuild with the mirror and state rows
 *     written through FerretDB (`directInserts: false`, the previous path);
 *   - 1, 2, 3 processes: `services/projector/main.ts --until-caught-up` spawned
 *     N times in a fresh group and database (process start and group joins
 *     included, so compare these rows with each other);
 *   - naive: one `updateOne` upsert per event (read, fold, write, no
 *     batching), time-boxed, as the baseline the batched design is measured
 *     against.
 * Workloads: the ~22 KB chat-window states (default: append a ~1 KB turn,
 * drop the oldest, bump a counter, flip the status), or `--corpus` (growing
 * corpus states up to 8 KB). Options: --quick, --agents N, --events N (per
 * agent), --processes 1,2,3, --no-processes.
 */
import { spawn } from 'node:child_process';
import { RedisCache } from '../src/cache/redis.js';
import { canonicalJson, step, type Projection } from '../src/domain/index.js';
import { MetricsRegistry, Projector, resetProjectorGroup } from '../src/projector/index.js';
import { MongoConnection, MongoStore } from '../src/store/mongo/index.js';
import { tuneFerretdbTables } from '../src/store/mongo/ferretdb-postgres.js';
import type { StackEnv } from '../test/support/env.js';
import { projectorServiceEnv } from '../test/support/service-env.js';
import { chatWindowEvents } from './lib/chat-log.js';
import { appendRoundRobin, corpusEvents } from './lib/corpus-log.js';
import { dropDatabases, intArg, pipelineBench } from './lib/pipeline.js';
import { writeResults } from './lib/results.js';
import { markdownTable, num } from './lib/table.js';
import { clientCpuSeconds, serverCpuByServer } from './lib/peers/measure.js';

const quick = process.argv.includes('--quick');
/** `chat` (default): ~22 KB chat-window states (issue 11); `corpus`: growing corpus states up to 8 KB. */
const WORKLOAD = process.argv.includes('--corpus') ? 'corpus' : 'chat';
const AGENTS = intArg('--agents', WORKLOAD === 'chat' ? (quick ? 20 : 50) : quick ? 100 : 500);
const PER_AGENT = intArg('--events', WORKLOAD === 'chat' ? (quick ? 50 : 200) : quick ? 10 : 30);
const NAIVE_SECONDS = quick ? 10 : 30;
const PROCESSES = process.argv.includes('--no-processes') ? [] : processCounts();
const STAGES = ['heads', 'fold', 'encode', 'dlq', 'snapshots', 'mirror', 'cache', 'states', 'state-topic'];

function processCounts(): number[] {
  const i = process.argv.indexOf('--processes');
  if (i < 0) return [1, 2, 3];
  return (process.argv[i + 1] ?? '').split(',').map((n) => {
    const v = Number(n);
    if (!Number.isSafeInteger(v) || v < 1) throw new Error(`--processes takes counts like 1,2,3, got ${process.argv[i + 1]}`);
    return v;
  });
}

interface Row {
  scenario: string;
  events: number;
  seconds: number;
  eventsPerSec: number;
  vsNaive?: number;
  /** CPU ms per event of this process (in-process scenarios) and of the stack's servers (every client's load on them counts: compare on an idle machine). */
  cpuMsPerEvent?: CpuPerEvent;
}

interface CpuPerEvent {
  node: number | null;
  postgres: number;
  ferretdb: number;
  kafka: number;
}

/** Starts a CPU meter; the function it returns gives the CPU ms per event since then. */
function cpuMeter(inProcess: boolean): (events: number) => CpuPerEvent {
  const c0 = clientCpuSeconds();
  const s0 = serverCpuByServer();
  return (events) => {
    const s1 = serverCpuByServer();
    const ms = (name: string): number => (((s1[name] ?? 0) - (s0[name] ?? 0)) * 1000) / events;
    const kafka = Object.keys(s1)
      .filter((n) => n.startsWith('kafka'))
      .reduce((a, n) => a + ms(n), 0);
    return { node: inProcess ? ((clientCpuSeconds() - c0) * 1000) / events : null, postgres: ms('postgres'), ferretdb: ms('mongo'), kafka };
  };
}

async function main(): Promise<void> {
  const { env, stamp, prefix, topics, log, codec, blobs } = await pipelineBench('project');
  const cache = new RedisCache({ url: env.redisUrl, prefix: `${prefix}cache:` });
  const databases: string[] = [];
  const rows: Row[] = [];
  const stages: Record<string, Record<string, number>> = {};
  const postgres = env.ferretdbPostgresUrl === undefined ? {} : { ferretdbPostgresUrl: env.ferretdbPostgresUrl };

  process.stderr.write(`generating ${AGENTS} x ${PER_AGENT} events...\n`);
  const histories = WORKLOAD === 'chat' ? chatWindowEvents(AGENTS, PER_AGENT) : corpusEvents(AGENTS, PER_AGENT);
  const total = await appendRoundRobin(log, codec, topics.events, histories);
  const newDatabase = (): string => {
    const database = `bench_project_${stamp}_${databases.length}`;
    databases.push(database);
    return database;
  };

  const project = async (scenario: string, directInserts = true): Promise<void> => {
    // As the projector service: with FerretDB's PostgreSQL, setup() tunes its tables (indexes, lz4).
    const store = await MongoStore.connect({ uri: env.mongodbUri, database: newDatabase(), ...postgres, directInserts });
    await store.setup();
    const metrics = new MetricsRegistry();
    const projector = new Projector({ log, codec, store, blobs, cache, topicPrefix: prefix, group: `${prefix}projector`, sweepIntervalMs: 0, metrics });
    const cpu = cpuMeter(true);
    const t0 = performance.now();
    await projector.runUntilCaughtUp();
    const seconds = (performance.now() - t0) / 1000;
    const cpuMsPerEvent = cpu(total);
    rows.push({ scenario, events: total, seconds, eventsPerSec: total / seconds, cpuMsPerEvent });
    stages[scenario] = Object.fromEntries(STAGES.map((s) => [s, metrics.summary('agentstate_projector_stage_seconds', { stage: s }).sum]));
    stages[scenario].batches = metrics.summary('agentstate_projector_batch_seconds').count;
    await store.close();
  };
  process.stderr.write('projector...\n');
  await project('projector, in process');
  await resetProjectorGroup({ log, group: `${prefix}projector`, target: { to: 'earliest' }, topicPrefix: prefix });
  process.stderr.write('rebuild...\n');
  await project('rebuild (reset to earliest), in process');
  if (env.ferretdbPostgresUrl !== undefined) {
    // The same rebuild with the mirror and state rows written through FerretDB (directInserts: false): the previous path.
    await resetProjectorGroup({ log, group: `${prefix}projector`, target: { to: 'earliest' }, topicPrefix: prefix });
    process.stderr.write('rebuild, rows through FerretDB...\n');
    await project('rebuild, rows written through FerretDB', false);
  }

  for (const n of PROCESSES) {
    process.stderr.write(`${n} projector process(es)...\n`);
    const cpu = cpuMeter(false);
    const seconds = await processes(env, prefix, `${prefix}projector-x${n}`, newDatabase(), n);
    const cpuMsPerEvent = cpu(total);
    rows.push({ scenario: `${n} projector process${n > 1 ? 'es' : ''} (spawned)`, events: total, seconds, eventsPerSec: total / seconds, cpuMsPerEvent });
  }

  process.stderr.write('naive baseline...\n');
  const naiveDb = newDatabase();
  const conn = await MongoConnection.connect({ uri: env.mongodbUri, database: naiveDb });
  const coll = conn.db.collection<{ _id: string; version: number; checksum: string; state: string }>('agent_states');
  // The same PostgreSQL tuning as the projector's tables (lz4 compression of documents), so the ratio compares designs, not server settings.
  if (env.ferretdbPostgresUrl !== undefined) {
    await conn.db.createCollection('agent_states');
    await tuneFerretdbTables(env.ferretdbPostgresUrl, naiveDb);
  }
  const heads = new Map<string, Projection>();
  let applied = 0;
  const cpu = cpuMeter(true);
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
      await coll.updateOne({ _id: record.key }, { $set: { version: r.projection.version, checksum: r.projection.checksum, state: canonicalJson(r.projection.state) } }, { upsert: true });
      applied++;
    }
  }
  const naiveSeconds = (performance.now() - t0) / 1000;
  const naive = applied / naiveSeconds;
  const naiveCpu = cpu(applied);
  rows.push({ scenario: `naive updateOne per event (${NAIVE_SECONDS}s box)`, events: applied, seconds: naiveSeconds, eventsPerSec: naive, cpuMsPerEvent: naiveCpu });
  await conn.close();
  for (const r of rows) r.vsNaive = r.eventsPerSec / naive;

  const table = markdownTable(rows, [
    { header: 'scenario', value: (r) => r.scenario, align: 'left' },
    { header: 'events', value: (r) => r.events },
    { header: 'seconds', value: (r) => num(r.seconds, 1) },
    { header: 'events/s', value: (r) => num(r.eventsPerSec, 0) },
    { header: 'x naive', value: (r) => num(r.vsNaive ?? 0, 1) },
    ...(['node', 'postgres', 'ferretdb', 'kafka'] as const).map((k) => ({
      header: `${k} CPU ms/event`,
      value: (r: Row) => {
        const v = r.cpuMsPerEvent?.[k];
        return v === undefined || v === null ? '-' : num(v, 2);
      },
    })),
  ]);
  const stageRows = Object.entries(stages).map(([scenario, s]) => ({ scenario, ...s }));
  type StageRow = Record<string, number | string>;
  const stageTable = markdownTable<StageRow>(stageRows, [
    { header: 'stage wall seconds', value: (r) => String(r.scenario), align: 'left' },
    { header: 'batches', value: (r) => Number(r.batches ?? 0) },
    ...STAGES.map((s) => ({ header: s, value: (r: StageRow) => num(Number(r[s] ?? 0), 1) })),
  ]);
  const what = WORKLOAD === 'chat' ? '~22 KB chat-window states' : 'corpus states up to 8 KB';
  process.stdout.write(`\nprojection: ${AGENTS} agents x ${PER_AGENT} events (${what}, Avro), 6 partitions\n\n${table}\n\n${stageTable}\n\n`);
  process.stdout.write(`results: ${writeResults('project', { workload: WORKLOAD, agents: AGENTS, eventsPerAgent: PER_AGENT, rows, stages })}\n`);

  await dropDatabases(env.mongodbUri, databases);
  await cache.close();
  await blobs.close();
  await log.close();
}

/** Spawns `n` projector services in one group and returns the seconds until all have caught up and exited. */
async function processes(env: StackEnv, prefix: string, group: string, database: string, n: number): Promise<number> {
  const t0 = performance.now();
  const exits = Array.from({ length: n }, () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'services/projector/main.ts', '--until-caught-up'], {
      env: {
        ...process.env,
        ...projectorServiceEnv(env, prefix, database),
        AGENTSTATE_PROJECTOR_GROUP: group,
        METRICS_PORT: '0',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    return new Promise<void>((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`projector process exited with ${code}`)))));
  });
  await Promise.all(exits);
  return (performance.now() - t0) / 1000;
}

await main();
