/**
 * `npm run bench -- append`: the write path (issue 10's table). In one run on
 * one broker:
 * - 100 agents with ~22 KB chat-window states, each update appending a ~1 KB
 *   message and dropping the oldest through a draft function, with the fleet
 *   view and the scoped view (`scope: 'owned'`): events/s, p50/p99 of the
 *   call-to-decision time, changeset bytes against the message's own JSON;
 * - 10,000 agents (scoped), two updates each;
 * - one agent at state sizes 10 KB / 1 MB / 10 MB (and 50 MB with --full),
 *   p50 of 1 KB changes, as a ratio to the 10 KB figure;
 * - 4 writer processes x N agents each (scoped), each process's memory and
 *   bytes read, against one process with N agents alone;
 * - the raw EventLog append path and Kafka's own producer-perf-test with the
 *   same record count and size (the ceiling every figure is a ratio of).
 *
 * Options (after `--`): --quick (small counts, for a smoke run), --full (50 MB
 * state), --procs-agents N (default 2500), --many N (default 10000),
 * --chat-updates N (updates per agent in the 100-agent chat runs; default 30,
 * about a second of writes: longer runs weigh warm-up less).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AgentStateClient, RegistryEventCodec } from '../src/client/index.js';
import { RegistryCodec } from '../src/codec/index.js';
import { Random } from '../src/corpus/index.js';
import { KafkaEventLog } from '../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../src/log/topics.js';
import { benchStack } from './stack.js';
import { chatLoad, createAgents, growState, message, pct } from './lib/append-load.js';
import { intArg } from './lib/pipeline.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const quick = process.argv.includes('--quick');
const full = process.argv.includes('--full');

interface Row {
  scenario: string;
  agents: number;
  events: number;
  seconds: number;
  eventsPerSec: number;
  avgEventBytes: number;
  p50Ms: number | null;
  p99Ms: number | null;
  note?: string;
}

async function main(): Promise<void> {
  const env = await benchStack();
  const log = new KafkaEventLog({ brokers: env.kafkaBrokers });
  const prefix = `bench-append-${Date.now().toString(36)}.`;
  await log.setup(topicSpecs({ prefix, partitions: 6 }));
  const codec = await RegistryEventCodec.create(new RegistryCodec({ url: env.schemaRegistryUrl }), topicNames(prefix).events);
  const rows: Row[] = [];
  let totalBytes = 0;
  let totalEvents = 0;
  const connect = (scope: 'fleet' | 'owned') => AgentStateClient.connect({ log, codec, topicPrefix: prefix, source: 'bench', scope });
  const messageJson = JSON.stringify(message(new Random(1), 1)).length;

  const chat = { agents: quick ? 20 : 100, perAgent: intArg('--chat-updates', quick ? 10 : 30) };
  for (const scope of ['fleet', 'owned'] as const) {
    const client = await connect(scope);
    const ids = Array.from({ length: chat.agents }, (_, i) => `chat-${scope}-${i}`);
    await createAgents(client, ids, true, 7);
    const r = await chatLoad(client, ids, chat.perAgent, 8);
    const stats = client.viewStats();
    await client.close();
    totalBytes += r.changeBytes * r.events;
    totalEvents += r.events;
    rows.push({
      scenario: `updateState, 22 KB chat windows, draft function, scope ${scope}`,
      agents: chat.agents,
      events: r.events,
      seconds: r.seconds,
      eventsPerSec: r.events / r.seconds,
      avgEventBytes: r.changeBytes,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      note: `changeset ${(r.changeBytes / messageJson).toFixed(2)}x the message JSON; view read ${mb(stats.bytesRead ?? 0)}`,
    });
    process.stderr.write(`[bench] chat ${scope}: ${Math.round(r.events / r.seconds)} events/s\n`);
  }

  const many = intArg('--many', quick ? 1000 : 10_000);
  {
    const client = await connect('owned');
    const ids = Array.from({ length: many }, (_, i) => `many-${i}`);
    await createAgents(client, ids, false, 9);
    const r = await chatLoad(client, ids, 2, 10);
    await client.close();
    totalBytes += r.changeBytes * r.events;
    totalEvents += r.events;
    rows.push({
      scenario: 'updateState, small growing chat states, scope owned',
      agents: many,
      events: r.events,
      seconds: r.seconds,
      eventsPerSec: r.events / r.seconds,
      avgEventBytes: r.changeBytes,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
    });
    process.stderr.write(`[bench] ${many} agents: ${Math.round(r.events / r.seconds)} events/s\n`);
  }

  const sizes = quick ? [10 * 1024, 1024 * 1024] : [10 * 1024, 1024 * 1024, 10 * 1024 * 1024, ...(full ? [50 * 1024 * 1024] : [])];
  let p50At10k = NaN;
  for (const size of sizes) {
    const client = await connect('owned');
    const id = `size-${size}`;
    await createAgents(client, [id], false, 11);
    await growState(client, id, size, 12);
    const r = await chatLoad(client, [id], quick ? 10 : 30, 13);
    await client.close();
    if (size === sizes[0]) p50At10k = r.p50Ms;
    rows.push({
      scenario: `updateState, 1 KB change, state ${mb(size)}, scope owned`,
      agents: 1,
      events: r.events,
      seconds: r.seconds,
      eventsPerSec: r.events / r.seconds,
      avgEventBytes: r.changeBytes,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      note: `p50 ${(r.p50Ms / p50At10k).toFixed(2)}x the 10 KB figure`,
    });
    process.stderr.write(`[bench] state ${mb(size)}: p50 ${r.p50Ms.toFixed(1)} ms\n`);
  }

  const perProc = intArg('--procs-agents', quick ? 200 : 2500);
  const worker = async (index: number): Promise<Record<string, number>> => {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', '--expose-gc', join(import.meta.dirname, 'lib', 'append-worker.ts'), env.kafkaBrokers.join(','), env.schemaRegistryUrl, prefix, String(index), String(perProc), '2', 'owned'],
      { maxBuffer: 16 * 1024 * 1024, cwd: root },
    );
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, number>;
  };
  const alone = await worker(0);
  const four = await Promise.all([1, 2, 3, 4].map(worker));
  for (const [label, w] of [['1 process alone', alone] as const, ...four.map((w, i) => [`process ${i + 1} of 4`, w] as const)]) {
    rows.push({
      scenario: `writer ${label}, ${perProc} agents, scope owned`,
      agents: perProc,
      events: w.events!,
      seconds: w.seconds!,
      eventsPerSec: w.events! / w.seconds!,
      avgEventBytes: w.changeBytes!,
      p50Ms: w.p50Ms!,
      p99Ms: w.p99Ms!,
      note: `rss ${mb(w.rssBytes!)}, heap ${mb(w.heapUsedBytes!)}, read ${mb(w.bytesRead!)}, heads ${w.trackedAgents}`,
    });
  }

  // The raw log path: batches of encoded events, no decision wait.
  const recordSize = Math.round(totalBytes / totalEvents);
  const rawCount = quick ? 5_000 : 30_000;
  const payload = Buffer.alloc(recordSize, 0x61);
  const rawTopic = `${prefix}raw`;
  await log.setup([{ name: rawTopic, partitions: 6, compacted: false }]);
  const rawLat: number[] = [];
  const t1 = performance.now();
  for (let i = 0; i < rawCount; i += 500) {
    const s = performance.now();
    await log.append(
      rawTopic,
      Array.from({ length: Math.min(500, rawCount - i) }, (_, j) => ({ key: `k${(i + j) % 1000}`, value: payload })),
    );
    rawLat.push(performance.now() - s);
  }
  const rawSec = (performance.now() - t1) / 1000;
  rawLat.sort((a, b) => a - b);
  rows.push({
    scenario: 'KafkaEventLog.append, batches of 500 (no decision wait)',
    agents: 1000,
    events: rawCount,
    seconds: rawSec,
    eventsPerSec: rawCount / rawSec,
    avgEventBytes: recordSize,
    p50Ms: pct(rawLat, 50),
    p99Ms: pct(rawLat, 99),
  });

  // Kafka's own producer, same count and size, acks=all, lz4: the ceiling.
  const perfTopic = `${prefix}perf`;
  await log.setup([{ name: perfTopic, partitions: 6, compacted: false }]);
  const { stdout } = await run(
    'bash',
    [
      join(root, 'scripts', 'kafka'),
      'producer-perf-test',
      '--topic',
      perfTopic,
      '--num-records',
      String(rawCount),
      '--record-size',
      String(recordSize),
      '--throughput',
      '-1',
      '--producer-props',
      `bootstrap.servers=${env.kafkaBrokers.join(',')}`,
      'acks=all',
      'compression.type=lz4',
      'enable.idempotence=true',
      'linger.ms=5',
      'batch.size=1048576',
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const last = stdout.trim().split('\n').at(-1) ?? '';
  const m = /([\d.]+) records\/sec.*?([\d.]+) ms avg latency.*?(\d+) ms 50th.*?(\d+) ms 99th/.exec(last);
  if (!m) throw new Error(`could not parse producer-perf-test output: ${last}`);
  const perfRate = Number(m[1]);
  rows.push({
    scenario: 'Kafka producer-perf-test (Java, acks=all, lz4, idempotent)',
    agents: 0,
    events: rawCount,
    seconds: rawCount / perfRate,
    eventsPerSec: perfRate,
    avgEventBytes: recordSize,
    p50Ms: Number(m[3]),
    p99Ms: Number(m[4]),
  });
  await log.close();

  const fmt = (n: number | null, d = 1) => (n === null || Number.isNaN(n) ? '-' : n.toFixed(d));
  console.log('\nappend benchmark (one process, one broker on this machine)\n');
  console.log('| scenario | agents | events | events/s | avg bytes | p50 ms | p99 ms | vs Kafka ceiling | notes |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of rows) {
    console.log(
      `| ${r.scenario} | ${r.agents || '-'} | ${r.events} | ${fmt(r.eventsPerSec, 0)} | ${r.avgEventBytes} | ${fmt(r.p50Ms)} | ${fmt(r.p99Ms)} | ${((r.eventsPerSec / perfRate) * 100).toFixed(1)} % | ${r.note ?? ''} |`,
    );
  }
  const out = join(root, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const file = join(out, `append-${new Date().toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`);
  writeFileSync(file, JSON.stringify({ bench: 'append', at: new Date().toISOString(), quick, rows }, null, 2));
  console.log(`\nwritten ${file}`);
}

function mb(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${(n / 1024).toFixed(1)} KB`;
}

await main();
