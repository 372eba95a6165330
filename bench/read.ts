/**
 * `npm run bench -- read`: the read path at 10,000 agents on the dev stack
 * (FerretDB, Redis, Kafka), against raw-driver baselines in the same run.
 * The fleet (bench/lib/read-fleet.ts): ~2 KB heads and 10 mirrored events per
 * agent, written to the store directly. Rows:
 *   - raw `findOne({_id})` on `agent_states` (baseline), then
 *     `getCurrentState` on a cache miss: store only, and Redis read-through on
 *     a cold cache (the miss plus the fill), then Redis warmed (`warmCache`);
 *   - raw `find({instanceId}).sort({version})` on `state_events` (baseline),
 *     then `getVersionHistory` and `getEventHistory` of one agent;
 *   - `agentstate status` (store counts + log offsets) and `list` (one page).
 * Goals (issue 11): cache-miss p99 <= 20 ms, history p99 <= 30 ms, status and
 * list <= 1 s. FerretDB's `explain` of the two queries is printed: whether the
 * filter and sort were pushed down to PostgreSQL.
 * Options: --quick (1,000 agents), --agents N, --events N (per agent), --reads N.
 */
import { RedisCache } from '../src/cache/redis.js';
import { S3BlobStore } from '../src/blob/s3.js';
import { statusReport } from '../src/cli/commands/status.js';
import { Random } from '../src/corpus/index.js';
import { StateManager } from '../src/manager/index.js';
import { openLog } from '../src/sdk/wiring.js';
import { MongoStore } from '../src/store/mongo/index.js';
import { intArg } from './lib/pipeline.js';
import { pct, writeReadFleet, zipf } from './lib/read-fleet.js';
import { writeResults } from './lib/results.js';
import { markdownTable, num } from './lib/table.js';
import { benchStack } from './stack.js';

const quick = process.argv.includes('--quick');
const AGENTS = intArg('--agents', quick ? 1000 : 10_000);
const EVENTS = intArg('--events', 10);
const READS = intArg('--reads', quick ? 1000 : 4000);
const CONCURRENCY = 8;

interface Row {
  scenario: string;
  reads: number;
  p50Ms: number;
  p99Ms: number;
  readsPerSec: number;
  /** p99 over the same run's baseline p99 (raw driver), when there is one. */
  p99VsBaseline: number | null;
  goalP99Ms: number | null;
}

async function main(): Promise<void> {
  const env = await benchStack();
  const stamp = Date.now().toString(36);
  const database = `bench_read_${stamp}`;
  const prefix = `bench-read-${stamp}.`;
  // scripts/stack env prints it when FerretDB runs on PostgreSQL: setup() then adds the containment indexes (docs/store.md).
  const pgUrl = process.env.AGENTSTATE_FERRETDB_POSTGRES_URL;
  const store = await MongoStore.connect({ uri: env.mongodbUri, database, ...(pgUrl ? { ferretdbPostgresUrl: pgUrl } : {}) });
  process.stderr.write(pgUrl ? `FerretDB on PostgreSQL: containment indexes via ${pgUrl}\n` : 'no AGENTSTATE_FERRETDB_POSTGRES_URL: FerretDB indexes only\n');
  await store.setup();
  const blobs = new S3BlobStore({ ...env.s3, prefix: `bench-read-${stamp}/` });
  const cache = new RedisCache({ url: env.redisUrl, prefix: `bench-read-${stamp}:` });
  const logSide = await openLog({ kind: 'servers', kafka: { brokers: env.kafkaBrokers, schemaRegistryUrl: env.schemaRegistryUrl }, topicPrefix: prefix, clientId: 'bench-read' });
  const rows: Row[] = [];
  try {
    process.stderr.write(`writing ${AGENTS} agents x ${EVENTS} events...\n`);
    const w0 = performance.now();
    const ids = await writeReadFleet(store, AGENTS, EVENTS);
    process.stderr.write(`written in ${((performance.now() - w0) / 1000).toFixed(1)} s\n`);
    const rnd = new Random(11);
    const pick = zipf(AGENTS, 1.1, rnd);
    const uniform = (): number => rnd.int(0, AGENTS - 1);
    const db = store.connection.db;

    /** `reads` calls of `read(id)`, CONCURRENCY at a time, on ids from `next`. */
    const measure = async (scenario: string, next: () => number, read: (id: string) => Promise<unknown>, baseline?: Row, goalP99Ms: number | null = null): Promise<Row> => {
      const lat: number[] = [];
      let left = READS;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (left-- > 0) {
            const id = ids[next()]!;
            const t = performance.now();
            const got = await read(id);
            lat.push(performance.now() - t);
            if (got === undefined || got === null || (Array.isArray(got) && got.length !== EVENTS)) throw new Error(`${scenario}: wrong answer for ${id}`);
          }
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      lat.sort((a, b) => a - b);
      const p99 = pct(lat, 99);
      const row = { scenario, reads: lat.length, p50Ms: pct(lat, 50), p99Ms: p99, readsPerSec: lat.length / seconds, p99VsBaseline: baseline ? p99 / baseline.p99Ms : null, goalP99Ms };
      rows.push(row);
      process.stderr.write(`${scenario}: p50 ${num(row.p50Ms, 2)} ms, p99 ${num(p99, 2)} ms\n`);
      return row;
    };

    // Cache misses: uniform ids, so the cold-cache row is (nearly) all misses.
    const rawState = await measure('raw findOne({_id}) on agent_states (baseline)', uniform, (id) => db.collection('agent_states').findOne({ _id: id as never }));
    const storeOnly = new StateManager({ store, blobs });
    await measure('getCurrentState, cache miss (store only)', uniform, (id) => storeOnly.getCurrentState(id), rawState, 20);
    const cold = new StateManager({ store, blobs, cache });
    const before = cache.stats();
    await measure('getCurrentState, cache miss (Redis read-through, cold)', uniform, (id) => cold.getCurrentState(id), rawState, 20);
    const after = cache.stats();
    const misses = after.misses - before.misses;
    const warm = new StateManager({ store, blobs, cache });
    await warm.warmCache(ids);
    await measure('getCurrentState, Redis warmed (zipf s=1.1)', pick, (id) => warm.getCurrentState(id), rawState);
    const rawEvents = await measure('raw find({instanceId}).sort({version}) on state_events (baseline)', uniform, (id) => db.collection('state_events').find({ instanceId: id }).sort({ version: 1 }).toArray());
    const manager = new StateManager({ store, blobs });
    await measure('getVersionHistory(id), one agent', uniform, (id) => manager.getVersionHistory(id), rawEvents, 30);
    await measure('getEventHistory(id), one agent', uniform, (id) => manager.getEventHistory(id), rawEvents, 30);

    // status and list: whole commands' reads (the CLI adds its process start).
    await logSide.setupTopics();
    const timed = async (scenario: string, fn: () => Promise<unknown>, baseline?: Row): Promise<Row> => {
      const lat: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        await fn();
        lat.push(performance.now() - t);
      }
      lat.sort((a, b) => a - b);
      const row = {
        scenario,
        reads: lat.length,
        p50Ms: pct(lat, 50),
        p99Ms: lat.at(-1)!,
        readsPerSec: 1000 / pct(lat, 50),
        p99VsBaseline: baseline ? lat.at(-1)! / baseline.p99Ms : null,
        goalP99Ms: scenario.startsWith('raw') ? null : 1000,
      };
      rows.push(row);
      process.stderr.write(`${scenario}: p50 ${num(row.p50Ms, 2)} ms, max ${num(row.p99Ms, 2)} ms\n`);
      return row;
    };
    let statusAgents = 0;
    await timed('agentstate status (store counts + log offsets)', async () => {
      statusAgents = (await statusReport(logSide, store)).agents;
    });
    if (statusAgents !== AGENTS) throw new Error(`status counted ${statusAgents} agents, wrote ${AGENTS}`);
    // The driver's find of the same page (what `list` ran before it read PostgreSQL directly on FerretDB).
    const rawList = await timed('raw find({status}).sort({_id}).limit(101) on agent_states (baseline)', () =>
      db
        .collection('agent_states')
        .find({ status: 'running' }, { projection: { _id: 1, version: 1, status: 1, lastModified: 1 } })
        .sort({ _id: 1 })
        .limit(101)
        .toArray(),
    );
    await timed('agentstate list (a page of 100, --status running)', () => store.query({ status: 'running', limit: 100 }), rawList);

    const explain = async (coll: string, filter: object, sort: object): Promise<unknown> => {
      const r = (await db.command({ explain: { find: coll, filter, sort }, verbosity: 'queryPlanner' })) as Record<string, unknown>;
      const { filterPushdown, sortPushdown, limitPushdown } = r as Record<string, unknown>;
      // PostgreSQL's plan nodes (FerretDB returns them): a Seq Scan means every read scans the collection.
      const text = JSON.stringify(r);
      const plan = [...text.matchAll(/"Node Type":"([^"]+)"|"Index Name":"([^"]+)"/g)].map((m) => m[1] ?? `index ${m[2]}`).join(' > ');
      return { filterPushdown, sortPushdown, limitPushdown, plan };
    };
    const plans = {
      stateById: await explain('agent_states', { _id: ids[0] }, {}),
      eventsByAgent: await explain('state_events', { instanceId: ids[0] }, { version: 1 }),
    };

    const table = markdownTable(rows, [
      { header: 'scenario', value: (r) => r.scenario, align: 'left' },
      { header: 'reads', value: (r) => r.reads },
      { header: 'p50 ms', value: (r) => num(r.p50Ms, 2) },
      { header: 'p99 ms', value: (r) => num(r.p99Ms, 2) },
      { header: 'reads/s', value: (r) => num(r.readsPerSec, 0) },
      { header: 'p99 / baseline', value: (r) => (r.p99VsBaseline === null ? '-' : `${num(r.p99VsBaseline, 2)}x`) },
      { header: 'goal p99', value: (r) => (r.goalP99Ms === null ? '-' : `<= ${r.goalP99Ms} ms ${r.p99Ms <= r.goalP99Ms ? 'met' : 'MISSED'}`) },
    ]);
    process.stdout.write(`\nreads: ${AGENTS} agents x ${EVENTS} mirrored events, ~2 KB states, ${CONCURRENCY} concurrent readers, ${READS} reads per row\n\n${table}\n\n`);
    process.stdout.write(`cold-cache row: ${misses} cache misses of ${READS} reads\nexplain: ${JSON.stringify(plans)}\n`);
    process.stdout.write(
      `results: ${writeResults(quick ? 'read-quick' : 'read', { agents: AGENTS, eventsPerAgent: EVENTS, concurrency: CONCURRENCY, coldMisses: misses, containmentIndexes: !!pgUrl, rows, explain: plans })}\n`,
    );
  } finally {
    await store.connection.db.dropDatabase().catch(() => undefined);
    await store.close();
    await cache.close();
    await blobs.close();
    await logSide.close();
  }
}

await main();
