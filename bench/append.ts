/**
 * `npm run bench -- append`: the write path. Events/s and ack latency (call →
 * the log's decision, as AgentStateClient.updateState reports it) from one
 * process at 1, 100 and 10,000 agents, events carrying corpus text; then, in
 * the same run on the same broker, the raw EventLog append path and Kafka's own
 * producer-perf-test with the same record count and size, as the ceiling.
 *
 * Options (after `--`): --quick (small counts, for a smoke run), --out <file>.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AgentStateClient, RegistryEventCodec } from '../src/client/index.js';
import type { JsonValue } from '../src/domain/index.js';
import { RegistryCodec } from '../src/codec/index.js';
import { Random, loadTextSources, proseSpan } from '../src/corpus/index.js';
import { KafkaEventLog } from '../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../src/log/topics.js';
import { benchStack } from './stack.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const quick = process.argv.includes('--quick');

interface Row {
  scenario: string;
  agents: number;
  events: number;
  seconds: number;
  eventsPerSec: number;
  avgEventBytes: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const env = await benchStack();
  const log = new KafkaEventLog({ brokers: env.kafkaBrokers });
  const prefix = `bench-append-${Date.now().toString(36)}.`;
  await log.setup(topicSpecs({ prefix, partitions: 6 }));
  const codec = await RegistryEventCodec.create(new RegistryCodec({ url: env.schemaRegistryUrl }), topicNames(prefix).events);
  const text = loadTextSources();
  const rows: Row[] = [];
  let totalBytes = 0;
  let totalEvents = 0;

  const scenarios = quick
    ? [
        { agents: 1, perAgent: 100 },
        { agents: 100, perAgent: 10 },
        { agents: 1000, perAgent: 2 },
      ]
    : [
        { agents: 1, perAgent: 1000 },
        { agents: 100, perAgent: 100 },
        { agents: 10_000, perAgent: 2 },
      ];

  for (const { agents, perAgent } of scenarios) {
    const client = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, source: 'bench' });
    const rnd = new Random(agents);
    const ids = Array.from({ length: agents }, (_, i) => `a${agents}-${i}`);
    for (let i = 0; i < ids.length; i += 500) {
      await Promise.all(ids.slice(i, i + 500).map((id) => client.createAgent(id, { agentType: 'assistant' })));
    }
    const latencies: number[] = [];
    let bytes = 0;
    const t0 = performance.now();
    // Closed loop: every agent writes its updates one after another, all agents at once.
    await Promise.all(
      ids.map(async (id) => {
        for (let n = 0; n < perAgent; n++) {
          const turn = { role: n % 2 ? 'assistant' : 'user', content: proseSpan(text, rnd, rnd.int(2, 8)), at: Date.now() };
          const r = await client.updateState(id, (draft) => {
            const convo = ((draft.memory.conversation as JsonValue[] | undefined) ?? []).slice(-19);
            convo.push(turn);
            draft.memory.conversation = convo;
          });
          latencies.push(r.processingTime);
          bytes += JSON.stringify(r.appliedChanges).length + 200;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    await client.close();
    latencies.sort((a, b) => a - b);
    const events = agents * perAgent;
    totalBytes += bytes;
    totalEvents += events;
    rows.push({
      scenario: 'AgentStateClient.updateState (acked = decided by the log)',
      agents,
      events,
      seconds,
      eventsPerSec: events / seconds,
      avgEventBytes: Math.round(bytes / events),
      p50Ms: pct(latencies, 50),
      p99Ms: pct(latencies, 99),
    });
    process.stderr.write(`[bench] ${agents} agents: ${Math.round(events / seconds)} events/s\n`);
  }

  // The raw log path: batches of encoded events, no decision wait.
  const recordSize = Math.round(totalBytes / totalEvents);
  const rawCount = quick ? 5_000 : 50_000;
  const payload = Buffer.alloc(recordSize, 0x61);
  const rawTopic = `${prefix}raw`;
  await log.setup([{ name: rawTopic, partitions: 6, compacted: false }]);
  const rawLat: number[] = [];
  const t1 = performance.now();
  for (let i = 0; i < rawCount; i += 500) {
    const s = performance.now();
    await log.append(rawTopic, Array.from({ length: Math.min(500, rawCount - i) }, (_, j) => ({ key: `k${(i + j) % 1000}`, value: payload })));
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
      '--topic', perfTopic,
      '--num-records', String(rawCount),
      '--record-size', String(recordSize),
      '--throughput', '-1',
      '--producer-props', `bootstrap.servers=${env.kafkaBrokers.join(',')}`, 'acks=all', 'compression.type=lz4', 'enable.idempotence=true', 'linger.ms=5', 'batch.size=1048576',
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const last = stdout.trim().split('\n').at(-1) ?? '';
  const m = /([\d.]+) records\/sec.*?([\d.]+) ms avg latency.*?(\d+) ms 50th.*?(\d+) ms 99th/.exec(last);
  if (!m) throw new Error(`could not parse producer-perf-test output: ${last}`);
  const perfRate = Number(m[1]);
  rows.push({
    scenario: "Kafka producer-perf-test (Java, acks=all, lz4, idempotent)",
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
  console.log('| scenario | agents | events | events/s | avg bytes | p50 ms | p99 ms | vs Kafka ceiling |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.scenario} | ${r.agents || '-'} | ${r.events} | ${fmt(r.eventsPerSec, 0)} | ${r.avgEventBytes} | ${fmt(r.p50Ms)} | ${fmt(r.p99Ms)} | ${((r.eventsPerSec / perfRate) * 100).toFixed(1)} % |`,
    );
  }
  const out = join(root, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const file = join(out, `append-${new Date().toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`);
  writeFileSync(file, JSON.stringify({ bench: 'append', at: new Date().toISOString(), quick, rows }, null, 2));
  console.log(`\nwritten ${file}`);
}

await main();
