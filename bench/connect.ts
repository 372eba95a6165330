/**
 * `npm run bench -- connect`: how long `AgentStateClient.connect()` takes to
 * reach the head of a long log: the scoped view (the default: reads nothing
 * at connect; its acquires are timed) and the fleet view bootstrapped from the
 * projector's outputs (docs/writer.md "Where the fleet view starts") against folding the whole
 * events topic (`bootstrap: false`). Same realistic corpus as `project`
 * (src/corpus, Avro, 6 partitions), projected once with
 * Projector.runUntilCaughtUp under the default group `<prefix>projector`; then
 * a writer client acquires 5 % of the agents and updates each once, so the
 * projector lags by a small tail that a bootstrapped connect must fold.
 * Then, alternating, 3 connects of each kind, each after a baseline in the
 * same round: a bare kafkajs consumer joining a fresh group and reading the
 * state topic from its start to its end (what any Kafka reader of every
 * agent's newest state pays); connects are reported as ratios against it,
 * with where each connect's time went (`viewStats().stages`). Each connect is checked against the
 * expected heads (corpus last version for untouched agents, the writer's head
 * for the tail agents) and against the other kind in the same round (version,
 * epoch, checksum of every agent). The projection itself is checked first
 * (every event applied once, the store's heads at the corpus's last version),
 * with the projector's warnings on stderr. Last, the scoped view: connect,
 * then acquire every agent (what a runtime owning the whole fleet needs).
 * Any mismatch is printed and the process exits 1. Options: --quick,
 * --agents N, --events N (per agent).
 */
import { pino } from 'pino';
import { AgentStateClient } from '../src/client/index.js';
import { MetricsRegistry, Projector } from '../src/projector/index.js';
import type { KafkaEventLog } from '../src/log/kafka/index.js';
import { MongoStore } from '../src/store/mongo/index.js';
import { appendRoundRobin, corpusEvents } from './lib/corpus-log.js';
import { intArg, pipelineBench } from './lib/pipeline.js';
import { writeResults } from './lib/results.js';
import { markdownTable, num } from './lib/table.js';

const quick = process.argv.includes('--quick');
const AGENTS = intArg('--agents', quick ? 200 : 2000);
const PER_AGENT = intArg('--events', quick ? 10 : 20);
const RUNS = 3;
/** Every TAIL_EVERY-th agent gets a tail (acquire + one update): 5 %. */
const TAIL_EVERY = 20;

type Mode = 'bootstrap' | 'full fold';
type Head = { version: number; epoch: number; checksum: string };

interface Row {
  run: number;
  mode: Mode;
  seconds: number;
  /** The kafkajs consumer baseline of the same round. */
  baselineSeconds: number;
  /** Where the connect's time went, ms (undefined for a client that does not report it). */
  stages: Record<string, number> | undefined;
  bootstrappedHeads: number;
  foldedRecords: number;
  startOffsets: Record<number, string>;
  check: string;
}

async function main(): Promise<void> {
  const { env, stamp, prefix, topics, log, codec, blobs } = await pipelineBench('connect');
  const store = await MongoStore.connect({ uri: env.mongodbUri, database: `bench_connect_${stamp}` });
  const rows: Row[] = [];
  const baselines: Array<{ seconds: number; records: number }> = [];
  const failures: string[] = [];

  try {
    await store.setup();
    process.stderr.write(`generating and appending ${AGENTS} x ${PER_AGENT} events...\n`);
    let t0 = performance.now();
    const histories = corpusEvents(AGENTS, PER_AGENT);
    const total = await appendRoundRobin(log, codec, topics.events, histories);
    const appendSeconds = (performance.now() - t0) / 1000;
    const ids = histories.map((h) => h[0]!.instanceId);
    const expected = new Map<string, Head>(histories.map((h) => [h[0]!.instanceId, { version: h.length, epoch: 1, checksum: h.at(-1)!.stateChecksum }]));

    process.stderr.write('projecting (group <prefix>projector)...\n');
    t0 = performance.now();
    const metrics = new MetricsRegistry();
    // Warnings (sink retries, consumer restarts) to stderr: a projection that
    // restarts is the one whose outputs a bootstrap most needs to be checked on.
    const logger = pino({ level: 'warn' }, pino.destination(2));
    // No cache: the client reads only the state topic and the group's commits.
    await new Projector({ log, codec, store, blobs, topicPrefix: prefix, group: `${prefix}projector`, sweepIntervalMs: 0, metrics, logger }).runUntilCaughtUp();
    const projectSeconds = (performance.now() - t0) / 1000;
    const projection = {
      seconds: projectSeconds,
      applied: metrics.value('agentstate_projector_events_total', { result: 'applied' }),
      skipped: metrics.value('agentstate_projector_events_total', { result: 'skipped' }),
    };
    if (projection.applied !== total) failures.push(`projection: ${projection.applied} of ${total} events applied (${projection.skipped} redelivered and skipped)`);
    // The store's heads against the corpus, before any client reads the state topic.
    for (let i = 0; i < ids.length; i += 500) {
      const stored = await store.getStates(ids.slice(i, i + 500));
      for (const id of ids.slice(i, i + 500)) {
        const r = stored.get(id);
        const e = expected.get(id)!;
        if (!r || r.version !== e.version || r.checksum !== e.checksum) failures.push(`projection: store head of ${id} is ${r ? `v${r.version}` : 'missing'}, corpus v${e.version}`);
      }
    }

    // The tail: written after the projector stopped, so it is exactly its lag.
    const tailIds = ids.filter((_, i) => i % TAIL_EVERY === 0);
    process.stderr.write(`tail: acquire + 1 update on ${tailIds.length} agents...\n`);
    const before = await log.endOffsets(topics.events);
    // The writer folds the whole log: its heads are the reference for the tail
    // agents, so they must not depend on the bootstrap under test.
    const writer = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, source: 'bench-connect', scope: 'fleet', bootstrap: false });
    try {
      await Promise.all(
        tailIds.map(async (id) => {
          await writer.acquire(id);
          await writer.memoryUpdated(id, { benchConnectTail: stamp });
          const h = writer.getState(id)!;
          expected.set(id, { version: h.version, epoch: h.epoch, checksum: h.checksum });
        }),
      );
    } finally {
      await writer.close();
    }
    const after = await log.endOffsets(topics.events);
    const tail = Object.entries(after).reduce((n, [p, e]) => n + Number(BigInt(e) - BigInt(before[Number(p)] ?? '0')), 0);
    if (tail !== 2 * tailIds.length) failures.push(`tail: ${tail} records appended, expected ${2 * tailIds.length}`);

    const connect = async (run: number, mode: Mode, baselineSeconds: number): Promise<Map<string, Head | undefined>> => {
      const started = performance.now();
      const client = await AgentStateClient.connect({
        log,
        codec,
        topicPrefix: prefix,
        scope: 'fleet', // every head, to compare the two starts
        ...(mode === 'full fold' ? { bootstrap: false as const } : {}),
      });
      const seconds = (performance.now() - started) / 1000;
      const stats = client.viewStats();
      const heads = new Map<string, Head | undefined>();
      for (const id of ids) {
        const h = client.getState(id);
        heads.set(id, h && { version: h.version, epoch: h.epoch, checksum: h.checksum });
      }
      await client.close();
      const diffs = compare(`run ${run} ${mode} vs expected`, heads, expected);
      const wantHeads = mode === 'bootstrap' ? AGENTS : 0;
      const wantFolded = mode === 'bootstrap' ? tail : total + tail;
      if (stats.bootstrappedHeads !== wantHeads) diffs.push(`run ${run} ${mode}: ${stats.bootstrappedHeads} heads bootstrapped, expected ${wantHeads}`);
      if (stats.foldedRecords !== wantFolded) diffs.push(`run ${run} ${mode}: ${stats.foldedRecords} records folded, expected ${wantFolded}`);
      failures.push(...diffs);
      rows.push({ run, mode, seconds, baselineSeconds, ...stats, stages: stats.stages, check: diffs.length === 0 ? `${AGENTS}/${AGENTS} heads match` : `MISMATCH (${diffs.length})` });
      return heads;
    };
    for (let run = 1; run <= RUNS; run++) {
      process.stderr.write(`run ${run}/${RUNS}: kafkajs baseline, connect with bootstrap, then with bootstrap: false...\n`);
      const base = await kafkajsBaseline(log, topics.state, `${prefix}baseline-${run}`);
      baselines.push(base);
      const boot = await connect(run, 'bootstrap', base.seconds);
      const full = await connect(run, 'full fold', base.seconds);
      failures.push(...compare(`run ${run} bootstrap vs full fold`, boot, full));
    }

    // The scoped view (docs/writer.md "Scoped writers"): connecting reads
    // nothing; what its agents need is paid by acquire. Timed once, after the
    // rounds, since each claim adds an event: every agent is acquired.
    process.stderr.write(`scoped: connect, then acquire all ${ids.length} agents...\n`);
    const scopedBase = await kafkajsBaseline(log, topics.state, `${prefix}baseline-scoped`);
    let t = performance.now();
    const scoped = await AgentStateClient.connect({ log, codec, topicPrefix: prefix }); // the default scope
    const scopedConnectSeconds = (performance.now() - t) / 1000;
    const readAtConnect = scoped.viewStats().bytesRead ?? 0;
    t = performance.now();
    const acquired = await Promise.all(ids.map((id) => scoped.acquire(id)));
    const scopedAcquireSeconds = (performance.now() - t) / 1000;
    const scopedStats = scoped.viewStats();
    await scoped.close();
    ids.forEach((id, i) => {
      const e = expected.get(id)!;
      const a = acquired[i]!;
      if (a.version !== e.version + 1 || a.epoch !== e.epoch + 1) failures.push(`scoped: ${id} acquired at v${a.version}/e${a.epoch}, expected v${e.version + 1}/e${e.epoch + 1}`);
    });
    const scopedRow = {
      connectSeconds: scopedConnectSeconds,
      bytesReadAtConnect: readAtConnect,
      acquireSeconds: scopedAcquireSeconds,
      acquired: ids.length,
      baselineSeconds: scopedBase.seconds,
      vsBaseline: (scopedConnectSeconds + scopedAcquireSeconds) / scopedBase.seconds,
      ...scopedStats,
    };

    const median = (mode: Mode): number => {
      const s = rows
        .filter((r) => r.mode === mode)
        .map((r) => r.seconds)
        .sort((a, b) => a - b);
      return s[Math.floor(s.length / 2)]!;
    };
    const baselineMedianSeconds = baselines.map((b) => b.seconds).sort((a, b) => a - b)[Math.floor(baselines.length / 2)]!;
    const summary = {
      bootstrapMedianSeconds: median('bootstrap'),
      fullFoldMedianSeconds: median('full fold'),
      baselineMedianSeconds,
      baselineRecords: baselines[0]?.records,
      bootstrapVsBaseline: median('bootstrap') / baselineMedianSeconds,
      scoped: scopedRow,
    };
    const stage = (r: Row, k: string): string => (r.stages?.[k] === undefined ? '-' : num(r.stages[k], 0));
    const table = markdownTable(rows, [
      { header: 'run', value: (r) => r.run },
      { header: 'mode', value: (r) => r.mode, align: 'left' },
      { header: 'seconds', value: (r) => num(r.seconds, 2) },
      { header: 'kafkajs baseline s', value: (r) => num(r.baselineSeconds, 2) },
      { header: 'vs baseline', value: (r) => `${num(r.seconds / r.baselineSeconds, 2)}x` },
      { header: 'offsets ms', value: (r) => stage(r, 'offsets') },
      { header: 'state read ms', value: (r) => stage(r, 'stateRead') },
      { header: 'heads ms', value: (r) => stage(r, 'heads') },
      { header: 'fold ms', value: (r) => stage(r, 'fold') },
      { header: 'heads from state topic', value: (r) => r.bootstrappedHeads },
      { header: 'records folded', value: (r) => r.foldedRecords },
      { header: 'check', value: (r) => r.check, align: 'left' },
    ]);
    process.stdout.write(
      `\nconnect: ${AGENTS} agents x ${PER_AGENT} events (${total} records, corpus states up to 8 KB, Avro), 6 partitions; ` +
        `projected in ${num(projection.seconds, 0)} s (${projection.applied} applied, ${projection.skipped} redelivered and skipped); ` +
        `tail of ${tail} records (acquire + 1 update on ${tailIds.length} agents) after the projector's commits\n\n${table}\n\n` +
        `median: bootstrap ${num(summary.bootstrapMedianSeconds, 2)} s, full fold ${num(summary.fullFoldMedianSeconds, 2)} s ` +
        `(${num(summary.fullFoldMedianSeconds / summary.bootstrapMedianSeconds, 1)}x); kafkajs baseline ${num(baselineMedianSeconds, 2)} s ` +
        `(a fresh group reading the ${summary.baselineRecords} records of the state topic): bootstrap ${num(summary.bootstrapVsBaseline, 2)}x the baseline\n` +
        `scope owned: connect ${num(scopedConnectSeconds, 3)} s (${readAtConnect} bytes read), ` +
        `then acquire of ${ids.length} agents ${num(scopedAcquireSeconds, 2)} s (${scopedStats.bootstrappedHeads} heads from the state topic, ` +
        `${scopedStats.foldedRecords} of their records folded, ${num((scopedStats.bytesRead ?? 0) / 1024, 0)} KB read); ` +
        `connect + acquire ${num(scopedRow.vsBaseline, 2)}x its baseline (${num(scopedBase.seconds, 2)} s)\n\n`,
    );
    const file = writeResults(quick ? 'connect-quick' : 'connect', {
      agents: AGENTS,
      eventsPerAgent: PER_AGENT,
      quick,
      records: total,
      tailAgents: tailIds.length,
      tailRecords: tail,
      setup: { appendSeconds, projection },
      ...summary,
      matched: failures.length === 0,
      failureCount: failures.length,
      failures: failures.slice(0, 50),
      rows,
    });
    process.stdout.write(`results: ${file}\n`);
  } finally {
    await store.connection.db.dropDatabase().catch(() => undefined);
    await store.close();
    for await (const o of blobs.list('')) await blobs.delete(o.key);
    await blobs.close();
    await log.close();
  }
  if (failures.length > 0) {
    process.stderr.write(
      `\nCONNECT MISMATCH (${failures.length}):\n${failures
        .slice(0, 20)
        .map((f) => `  ${f}`)
        .join('\n')}\n`,
    );
    process.exitCode = 1;
  }
}

/**
 * The baseline: a bare kafkajs consumer (connect, join a fresh group,
 * subscribe from the beginning) reading `topic` to the end offsets it had
 * before the clock started; the time to its last record, then it leaves.
 */
async function kafkajsBaseline(log: KafkaEventLog, topic: string, group: string): Promise<{ seconds: number; records: number }> {
  const ends = new Map(
    Object.entries(await log.endOffsets(topic))
      .filter(([, e]) => e !== '0')
      .map(([p, e]) => [Number(p), BigInt(e)]),
  );
  const started = performance.now();
  const consumer = log.kafka.consumer({ groupId: group, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
  let records = 0;
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      if (ends.size === 0) resolve();
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            records += batch.messages.length;
            const last = batch.messages.at(-1);
            if (last && BigInt(last.offset) + 1n >= (ends.get(batch.partition) ?? 0n)) ends.delete(batch.partition);
            if (ends.size === 0) resolve();
          },
        })
        .catch(reject);
    });
    return { seconds: (performance.now() - started) / 1000, records };
  } finally {
    await consumer.disconnect();
  }
}

/** One line per agent whose head in `actual` differs from `want` (version, epoch, checksum). */
function compare(what: string, actual: Map<string, Head | undefined>, want: Map<string, Head | undefined>): string[] {
  const out: string[] = [];
  for (const [id, w] of want) {
    const g = actual.get(id);
    if (!g || !w) {
      if (g !== w) out.push(`${what}: ${id} missing (${g ? 'want' : 'actual'})`);
      continue;
    }
    if (g.version !== w.version || g.epoch !== w.epoch || g.checksum !== w.checksum) {
      out.push(`${what}: ${id} v${g.version}/e${g.epoch} ${g.checksum} != v${w.version}/e${w.epoch} ${w.checksum}`);
    }
  }
  return out;
}

await main();
