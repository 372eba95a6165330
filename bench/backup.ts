/**
 * `npm run bench -- backup`: the S3 backup consumer (issue 14) against the
 * rate the events topic is written at, measured in the same run.
 *   1. produce: the corpus (src/corpus, Avro, 6 partitions) appended to Kafka:
 *      the baseline, records/s and MB/s;
 *   2. archive: the archiver (default 8 MiB segments, lz4) reads it all back
 *      and writes segments + manifests to S3: records/s, MB/s, CPU (cores),
 *      and the ratio to the produce rate;
 *   3. steady state: a writer at a fixed rate (default 2,000 events/s) for a
 *      while with the archiver running beside it: the RPO (age of the oldest
 *      record not in S3) sampled every second, and the archiver's CPU (the
 *      process's CPU minus that of the same writer alone, measured first);
 *   4. a checkpoint of every partition (what the retention writes before it
 *      deletes segments): the fold of every archived record, its time, and
 *      the checkpoints' size.
 * Options: --quick, --agents N, --events N (per agent), --rate N (events/s),
 * --seconds N (steady phase), --segment-age-ms N (segment age in the steady phase).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BackupArchiver, listBackupPartitions, writeCheckpoint } from '../src/backup/index.js';
import { instanceId, type StateEvent } from '../src/domain/index.js';
import { appendRoundRobin, corpusEvents } from './lib/corpus-log.js';
import { intArg, pipelineBench } from './lib/pipeline.js';
import { writeResults } from './lib/results.js';
import { num } from './lib/table.js';
import { throughputRow, throughputTable, type ThroughputRow } from './lib/throughput.js';

const quick = process.argv.includes('--quick');
const AGENTS = intArg('--agents', quick ? 100 : 400);
const PER_AGENT = intArg('--events', quick ? 20 : 50);
const RATE = intArg('--rate', 2000);
const SECONDS = intArg('--seconds', quick ? 15 : 40);
const SEGMENT_AGE_MS = intArg('--segment-age-ms', 10_000);

const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;

/** Appends `events` at `rate` per second (batches every 100 ms) until `seconds` pass; returns what it wrote. */
async function writeAtRate(append: (batch: StateEvent[]) => Promise<void>, events: StateEvent[], rate: number, seconds: number): Promise<number> {
  const t0 = performance.now();
  let i = 0;
  while (performance.now() - t0 < seconds * 1000 && i < events.length) {
    const due = Math.min(events.length, Math.floor(((performance.now() - t0) / 1000) * rate));
    if (due > i) {
      await append(events.slice(i, due));
      i = due;
    }
    await sleep(100);
  }
  return i;
}

async function main(): Promise<void> {
  const { stamp, prefix, topics, log, codec, blobs } = await pipelineBench('backup');
  const rows: ThroughputRow[] = [];
  try {
    process.stderr.write(`generating ${AGENTS} x ${PER_AGENT} corpus events...\n`);
    const histories = corpusEvents(AGENTS, PER_AGENT);
    const bytesOf = async (events: StateEvent[]) => (await Promise.all(events.map((e) => codec.encode(e)))).reduce((n, b) => n + b.length, 0);
    const all = histories.flat();
    const mb = (await bytesOf(all)) / 1e6;

    // 1. The baseline: how fast the events topic is written.
    let cpu = process.cpuUsage();
    let t = performance.now();
    const total = await appendRoundRobin(log, codec, topics.events, histories);
    const produceS = (performance.now() - t) / 1000;
    rows.push(throughputRow('produce (baseline)', total, mb, produceS, '1.00', cpuSeconds(process.cpuUsage(cpu)) / produceS));

    // 2. Archive it all.
    // Full segments close on size (8 MiB); the last one of each partition on an age of 1 s.
    const archiver = new BackupArchiver({ log, blobs, codec, topicPrefix: prefix, segmentMaxAgeMs: 1000, tickMs: 200, sessionTimeoutMs: 10_000 });
    const stop = new AbortController();
    cpu = process.cpuUsage();
    t = performance.now();
    const running = archiver.run(stop.signal);
    // The group join is not archive work: time from the first archived record.
    let firstAt: number | undefined;
    for (;;) {
      await sleep(100);
      const lag = await archiver.lag();
      const left = lag.reduce((n, l) => n + Number(l.records), 0);
      if (firstAt === undefined && left < total) firstAt = performance.now();
      if (left === 0) break;
    }
    stop.abort();
    await running;
    const archiveS = (performance.now() - (firstAt ?? t)) / 1000;
    const archiveCpu = cpuSeconds(process.cpuUsage(cpu)) / ((performance.now() - t) / 1000);
    const left = (await archiver.lag()).reduce((n, l) => n + Number(l.records), 0);
    if (left !== 0) throw new Error(`archive did not finish: ${left} records not in S3`);
    rows.push(throughputRow('archive to S3 (8 MiB segments)', total, mb, archiveS, num(produceS / archiveS, 2), archiveCpu));

    // 3. Steady state at RATE events/s: the writer alone, then with the archiver beside it.
    const steady = corpusEvents(Math.max(AGENTS, Math.ceil((RATE * (SECONDS + 10)) / 20)), 20, 2048).map((h) => h.map((e) => ({ ...e, instanceId: instanceId(`steady-${e.instanceId}`) })));
    const byRound = Array.from({ length: 20 }, (_, v) => steady.map((h) => h[v]!)).flat();
    const append = async (batch: StateEvent[]) => void (await log.append(topics.events, await Promise.all(batch.map(async (e) => ({ key: e.instanceId, value: await codec.encode(e), timestamp: Date.now() })))));
    const aloneS = Math.min(10, SECONDS);
    cpu = process.cpuUsage();
    const aloneN = await writeAtRate(append, byRound.slice(0, RATE * aloneS), RATE, aloneS);
    const writerCores = cpuSeconds(process.cpuUsage(cpu)) / aloneS;

    const steadyArchiver = new BackupArchiver({ log, blobs, codec, topicPrefix: prefix, segmentMaxAgeMs: SEGMENT_AGE_MS, tickMs: 500, sessionTimeoutMs: 10_000 });
    const stop2 = new AbortController();
    const running2 = steadyArchiver.run(stop2.signal);
    // Let it catch up with the writer-alone phase's records first.
    while ((await steadyArchiver.lag()).some((l) => l.seconds > (SEGMENT_AGE_MS / 1000) * 2 + 5)) await sleep(500);
    const rpo: number[] = [];
    const sampler = setInterval(
      () =>
        void steadyArchiver.lag().then(
          (l) => rpo.push(Math.max(0, ...l.map((x) => x.seconds))),
          () => undefined,
        ),
      1000,
    );
    cpu = process.cpuUsage();
    const steadyN = await writeAtRate(append, byRound.slice(aloneN, aloneN + RATE * SECONDS), RATE, SECONDS);
    const bothCores = cpuSeconds(process.cpuUsage(cpu)) / SECONDS;
    clearInterval(sampler);
    stop2.abort();
    await running2;
    const sorted = [...rpo].sort((a, b) => a - b);
    const p50 = sorted[Math.floor(sorted.length / 2)] ?? 0;
    const max = sorted.at(-1) ?? 0;
    const steadyMb = (await bytesOf(byRound.slice(aloneN, aloneN + steadyN))) / 1e6;
    rows.push(throughputRow(`steady: writer alone at ${RATE}/s`, aloneN, 0, aloneS, '-', writerCores));
    rows.push(throughputRow(`steady: writer + archiver (age ${SEGMENT_AGE_MS / 1000} s)`, steadyN, steadyMb, SECONDS, '-', bothCores - writerCores));

    // 4. A checkpoint of every partition (what the retention writes before it deletes segments): the fold of
    // every archived record, its time and size (MB = the checkpoint objects' bytes, lz4).
    cpu = process.cpuUsage();
    t = performance.now();
    let cpBytes = 0;
    let cpAgents = 0;
    for (const p of await listBackupPartitions(blobs)) {
      const w = await writeCheckpoint({ blobs, codec, partition: p, now: Date.now() });
      if (!w) continue;
      cpAgents += w.agents;
      cpBytes += (await blobs.head(w.key))?.size ?? 0;
    }
    const cpS = (performance.now() - t) / 1000;
    const archived = total + aloneN + steadyN;
    rows.push(throughputRow(`checkpoint all partitions (${cpAgents} agents)`, archived, cpBytes / 1e6, cpS, num(produceS / total / (cpS / archived), 2), cpuSeconds(process.cpuUsage(cpu)) / cpS));

    const table = throughputTable(rows, true);
    process.stdout.write(`\nbackup: ${AGENTS} agents x ${PER_AGENT} corpus events (Avro), 6 partitions, S3 = versitygw\n\n${table}\n\n`);
    process.stdout.write(
      `steady RPO at ${RATE} events/s, segment age ${SEGMENT_AGE_MS / 1000} s: p50 ${num(p50, 1)} s, max ${num(max, 1)} s (${num(max / (SEGMENT_AGE_MS / 1000), 2)} x the segment age); archiver CPU ${num(bothCores - writerCores, 2)} cores (steady) = writer+archiver ${num(bothCores, 2)} - writer alone ${num(writerCores, 2)}\n`,
    );
    const file = writeResults(quick ? 'backup-quick' : 'backup', { stamp, agents: AGENTS, eventsPerAgent: PER_AGENT, rate: RATE, seconds: SECONDS, segmentAgeMs: SEGMENT_AGE_MS, rows, rpo: { p50, max, samples: rpo } });
    process.stdout.write(`results: ${file}\n`);
  } finally {
    for await (const o of blobs.list('')) await blobs.delete(o.key);
    await blobs.close();
    await log.close();
  }
}

await main();
