/**
 * `npm run bench -- backup`: the S3 backup consumer (issue 14) against the
 * rate the events topic is written at, measured in the same run.
 *   1. produce: the corpus (src/corpus, Avro, 6 partitions) appended to Kafka:
 *      the baseline, records/s and MB/s;
 *   2. archive: the archiver (default 8 MiB segments, lz4) reads it all back
 *      and writes segments + manifests to S3: records/s, MB/s, CPU (cores),
 *      and the ratio to the produce rate;
 *   3. steady state: a writer at a fixed rate (default 2,000 events/s) for a
 *      while with the backup service (services/backup, its own process)
 *      running beside it: the RPO (age of the oldest record not in S3, from
 *      the service's /metrics) sampled every second, and the service
 *      process's CPU (its own CPU time, from /proc);
 *   4. a checkpoint of every partition (what the retention writes before it
 *      deletes segments): the fold of every archived record, its time, and
 *      the checkpoints' size.
 * Options: --quick, --agents N, --events N (per agent), --rate N (events/s),
 * --seconds N (steady phase), --segment-age-ms N (segment age in the steady phase).
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackupArchiver, listBackupPartitions, writeCheckpoint } from '../src/backup/index.js';
import { instanceId, type StateEvent } from '../src/domain/index.js';
import type { StackEnv } from '../test/support/env.js';
import { projectorServiceEnv } from '../test/support/service-env.js';
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

interface BackupService {
  /** The largest RPO over the partitions, from the service's /metrics (Infinity before it reports one). */
  rpo(): Promise<number>;
  /** CPU seconds (user + system) the process has used, from /proc/<pid>/stat. */
  cpuSeconds(): number;
  /** SIGTERM, then waits for a clean exit. */
  stop(): Promise<void>;
}

/** Starts `services/backup/main.ts` on the bench's prefix (same group and S3 prefix as phase 2, so it continues from the manifests). */
async function startBackupService(env: StackEnv, prefix: string, segmentAgeMs: number): Promise<BackupService> {
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...projectorServiceEnv(env, prefix, 'unused'),
    BACKUP_SEGMENT_MAX_AGE_MS: String(segmentAgeMs),
    BACKUP_TICK_MS: '500',
    BACKUP_SESSION_TIMEOUT_MS: '10000',
    METRICS_PORT: String(port),
    LOG_LEVEL: 'error',
  };
  // No snapshot catalog here (no store in this bench).
  delete childEnv.MONGODB_URI;
  delete childEnv.AGENTSTATE_MONGO_DATABASE;
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/backup/main.ts'], { env: childEnv, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  return {
    async rpo() {
      const text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
        (r) => r.text(),
        () => '',
      );
      const values = [...text.matchAll(/^agentstate_backup_rpo_seconds\{[^}]*\} (\S+)$/gm)].map((m) => Number(m[1]));
      return values.length === 0 ? Infinity : Math.max(...values);
    },
    cpuSeconds() {
      // Fields 14 and 15 (utime, stime) after the command name in parentheses.
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / ticks;
    },
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`backup service exited with ${code}`);
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function main(): Promise<void> {
  const { env, stamp, prefix, topics, log, codec, blobs } = await pipelineBench('backup');
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

    // The archiver in its own process (the backup service a user runs), so its CPU is its own, read from /proc.
    const service = await startBackupService(env, prefix, SEGMENT_AGE_MS);
    const rpo: number[] = [];
    let steadyN = 0;
    let serviceCpu = 0;
    let writerSteadyCores = 0;
    try {
      // Let it catch up with the writer-alone phase's records first.
      while (!((await service.rpo()) <= (SEGMENT_AGE_MS / 1000) * 2 + 5)) await sleep(500);
      const sampler = setInterval(
        () =>
          void service.rpo().then(
            (r) => rpo.push(r),
            () => undefined,
          ),
        1000,
      );
      const cpu0 = service.cpuSeconds();
      const w0 = performance.now();
      cpu = process.cpuUsage();
      steadyN = await writeAtRate(append, byRound.slice(aloneN, aloneN + RATE * SECONDS), RATE, SECONDS);
      writerSteadyCores = cpuSeconds(process.cpuUsage(cpu)) / SECONDS;
      serviceCpu = (service.cpuSeconds() - cpu0) / ((performance.now() - w0) / 1000);
      clearInterval(sampler);
    } finally {
      await service.stop();
    }
    const sorted = [...rpo].sort((a, b) => a - b);
    const p50 = sorted[Math.floor(sorted.length / 2)] ?? 0;
    const max = sorted.at(-1) ?? 0;
    const steadyMb = (await bytesOf(byRound.slice(aloneN, aloneN + steadyN))) / 1e6;
    rows.push(throughputRow(`steady: writer alone at ${RATE}/s`, aloneN, 0, aloneS, '-', writerCores));
    rows.push(throughputRow(`steady: writer with the backup service (age ${SEGMENT_AGE_MS / 1000} s)`, steadyN, steadyMb, SECONDS, '-', writerSteadyCores));
    rows.push(throughputRow('steady: the backup service process', steadyN, steadyMb, SECONDS, '-', serviceCpu));

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
      `steady RPO at ${RATE} events/s, segment age ${SEGMENT_AGE_MS / 1000} s: p50 ${num(p50, 1)} s, max ${num(max, 1)} s (${num(max / (SEGMENT_AGE_MS / 1000), 2)} x the segment age); the backup service process used ${num(serviceCpu, 3)} cores (its own CPU time, /proc), the writer ${num(writerSteadyCores, 2)}\n`,
    );
    const file = writeResults(quick ? 'backup-quick' : 'backup', {
      stamp,
      agents: AGENTS,
      eventsPerAgent: PER_AGENT,
      rate: RATE,
      seconds: SECONDS,
      segmentAgeMs: SEGMENT_AGE_MS,
      rows,
      serviceCores: serviceCpu,
      rpo: { p50, max, samples: rpo },
    });
    process.stdout.write(`results: ${file}\n`);
  } finally {
    for await (const o of blobs.list('')) await blobs.delete(o.key);
    await blobs.close();
    await log.close();
  }
}

await main();
