/**
 * `npm run bench -- analytics`: events/s the analytics consumer sustains on
 * one core (issue 16; goal >= 20,000/s), embedded profile (SQLite log and
 * analytics store, so the figure is this code's, not a server's). One run
 * measures, on the same topic:
 *   - baseline: a bare consume of the topic (a group that only iterates the
 *     records), the ceiling any consumer of this log has here;
 *   - analytics: the AnalyticsConsumer (read, fold, detect, write windows,
 *     anomalies and checkpoints, commit), reported as a ratio to the baseline;
 *   - fold only: readFact + PartitionFold on records already in memory (no I/O);
 *   - fold only, parse path: the same with every record parsed (parseFact: JSON.parse
 *     and re-serialised values, the reader before the byte scan), for an A/B in one run.
 * Each row also gives events per CPU second (process.cpuUsage: user + system
 * of all the process's threads), which another process's load on a shared
 * machine disturbs far less than wall time.
 * Options: --agents N (healthy agents, default 300), --seconds S (log time, default 60),
 * --against DIR: a paired A/B, the analytics consumer of another checkout
 * (DIR, with its node_modules; e.g. main's) and this one's, alternating
 * on the same log, --rounds N pairs (default 3): each run's figures, medians
 * and the paired ratios.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AnalyticsConsumer, PartitionFold, bodyReader, readFact, resolveSettings, type FactReading } from '../src/analytics/index.js';
import { parseFact } from '../src/analytics/fact.js';
import { JsonEventCodec } from '../src/client/index.js';
import { buildFaultScenario } from '../src/demo/faults.js';
import type { StoredRecord } from '../src/log/port.js';
import { SqliteEventLog } from '../src/log/sqlite/index.js';
import { topicNames, topicSpecs } from '../src/log/topics.js';
import { SqliteAnalyticsStore } from '../src/store/sqlite/analytics.js';
import { appendEvents } from '../test/support/analytics-scenario.js';
import { intArg } from './lib/pipeline.js';
import { writeResults } from './lib/results.js';
import { markdownTable, num } from './lib/table.js';

const AGENTS = intArg('--agents', 300);
const SECONDS = intArg('--seconds', 60);

interface Row {
  run: string;
  events: number;
  seconds: number;
  eventsPerSec: number;
  ratio: string;
  /** Events per CPU second of the process. */
  perCpuSec: number;
}

const AGAINST = (() => {
  const i = process.argv.indexOf('--against');
  return i > 0 ? process.argv[i + 1] : undefined;
})();
const ROUNDS = intArg('--rounds', 3);

/** Runs `fn`, returning its wall and CPU seconds. */
async function timed(fn: () => Promise<void>): Promise<{ seconds: number; cpuSeconds: number }> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(cpu);
  return { seconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
}

type Consumers = { AnalyticsConsumer: typeof AnalyticsConsumer; bodyReader: typeof bodyReader; SqliteAnalyticsStore: typeof SqliteAnalyticsStore };

/** One end-to-end run of a checkout's analytics consumer over the topic, into a fresh SQLite store. */
async function consumerRun(c: Consumers, log: SqliteEventLog, prefix: string, path: string, group: string): Promise<{ seconds: number; cpuSeconds: number }> {
  const store = new c.SqliteAnalyticsStore({ path });
  await store.setup();
  try {
    return await timed(() => new c.AnalyticsConsumer({ log, store, read: c.bodyReader(), topicPrefix: prefix, group, maxBatchRecords: 2000 }).runUntilCaughtUp(undefined, 20));
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'agentstate-bench-analytics-'));
  const prefix = 'bench.';
  const topics = topicNames(prefix);
  const log = new SqliteEventLog({ path: join(dir, 'log.sqlite'), pollIntervalMs: 10 });
  try {
    await log.setup(topicSpecs({ prefix, partitions: 4 }));
    process.stderr.write(`building a ${SECONDS}s scenario of ${AGENTS} healthy agents + faults...\n`);
    const scenario = buildFaultScenario({ seed: 1, healthy: AGENTS, perFault: 2, durationMs: SECONDS * 1000, faultFromMs: (SECONDS * 1000) / 2, faultToMs: (SECONDS * 1000 * 3) / 4 });
    const codec = new JsonEventCodec();
    await appendEvents(log, topics.events, codec, scenario.events, 2000);
    const total = scenario.events.length;
    process.stderr.write(`${total} events appended\n`);
    const rows: Row[] = [];

    // Baseline: a bare consume of the same topic, same batch size.
    {
      let seen = 0;
      const ac = new AbortController();
      const t = await timed(async () => {
        const done = new Promise<void>((resolve) => {
          void log.consume({
            group: `${prefix}bare`,
            topics: [topics.events],
            maxBatchRecords: 2000,
            signal: ac.signal,
            handler: async (b) => {
              for (const r of b.records) if (r.value !== null) seen++;
              if (seen >= total) resolve();
            },
          });
        });
        await done;
      });
      ac.abort();
      rows.push({ run: 'baseline: bare consume', events: seen, seconds: t.seconds, eventsPerSec: seen / t.seconds, ratio: '1.00', perCpuSec: seen / t.cpuSeconds });
    }
    const base = rows[0]!.eventsPerSec;

    // The analytics consumer, end to end.
    {
      const t = await consumerRun({ AnalyticsConsumer, bodyReader, SqliteAnalyticsStore }, log, prefix, join(dir, 'analytics.sqlite'), `${prefix}analytics`);
      rows.push({ run: 'analytics consumer (SQLite store)', events: total, seconds: t.seconds, eventsPerSec: total / t.seconds, ratio: num(total / t.seconds / base, 2), perCpuSec: total / t.cpuSeconds });
    }

    // Fold only: the records in memory, no I/O; with the scan, then with every record parsed.
    const records: StoredRecord[] = [];
    const end = await log.endOffsets(topics.events);
    for (const [p, until] of Object.entries(end)) records.push(...(await log.read(topics.events, Number(p), '0', until)));
    const foldOnly = async (run: string, reader: (r: StoredRecord) => Promise<FactReading>): Promise<void> => {
      const settings = resolveSettings();
      const folds = new Map<number, PartitionFold>();
      const t = await timed(async () => {
        for (const r of records) {
          let f = folds.get(r.partition);
          if (!f) folds.set(r.partition, (f = new PartitionFold(r.partition, settings)));
          f.add(r.key, r.offset, await reader(r));
        }
        for (const f of folds.values()) f.drain();
      });
      const n = records.length;
      rows.push({ run, events: n, seconds: t.seconds, eventsPerSec: n / t.seconds, ratio: num(n / t.seconds / base, 2), perCpuSec: n / t.cpuSeconds });
    };
    const read = bodyReader();
    await foldOnly('fold only (no I/O)', (r) => readFact(r, read));
    await foldOnly('fold only, parse path (no I/O)', (r) => parseFact(r, read));

    process.stdout.write(
      `\n${markdownTable(rows, [
        { header: 'run', value: (r) => r.run, align: 'left' },
        { header: 'events', value: (r) => r.events },
        { header: 's', value: (r) => num(r.seconds, 2) },
        { header: 'events/s', value: (r) => num(r.eventsPerSec, 0) },
        { header: 'x baseline', value: (r) => r.ratio },
        { header: 'events/CPU-s', value: (r) => num(r.perCpuSec, 0) },
      ])}\n\ngoal: analytics >= 20000 events/s on one core\n`,
    );
    const ab = AGAINST ? await pairedRuns(AGAINST, log, prefix, dir, total) : undefined;
    const file = writeResults('analytics', { agents: AGENTS, seconds: SECONDS, events: total, rows, ...(ab ? { against: AGAINST, ab } : {}) });
    process.stderr.write(`results: ${file}\n`);
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** --against: the other checkout's consumer and this one's, alternating (ABBA...) on the same log. */
async function pairedRuns(other: string, log: SqliteEventLog, prefix: string, dir: string, total: number) {
  const root = resolve(other);
  const them: Consumers = {
    ...((await import(pathToFileURL(join(root, 'src/analytics/index.ts')).href)) as Pick<Consumers, 'AnalyticsConsumer' | 'bodyReader'>),
    ...((await import(pathToFileURL(join(root, 'src/store/sqlite/analytics.ts')).href)) as Pick<Consumers, 'SqliteAnalyticsStore'>),
  };
  const us: Consumers = { AnalyticsConsumer, bodyReader, SqliteAnalyticsStore };
  const runs = { against: [] as Array<{ perSec: number; perCpuSec: number }>, this: [] as Array<{ perSec: number; perCpuSec: number }> };
  for (let i = 0; i < ROUNDS; i++) {
    for (const side of i % 2 === 0 ? (['against', 'this'] as const) : (['this', 'against'] as const)) {
      const t = await consumerRun(side === 'this' ? us : them, log, prefix, join(dir, `ab-${side}-${i}.sqlite`), `${prefix}ab-${side}-${i}`);
      runs[side].push({ perSec: total / t.seconds, perCpuSec: total / t.cpuSeconds });
      process.stdout.write(`round ${i + 1} ${side === 'this' ? 'this checkout' : other}: ${num(total / t.seconds, 0)} events/s, ${num(total / t.cpuSeconds, 0)} events/CPU-s\n`);
    }
  }
  const summary = {
    medianPerSec: { against: median(runs.against.map((r) => r.perSec)), this: median(runs.this.map((r) => r.perSec)) },
    medianPerCpuSec: { against: median(runs.against.map((r) => r.perCpuSec)), this: median(runs.this.map((r) => r.perCpuSec)) },
    pairedRatioPerSec: median(runs.this.map((r, i) => r.perSec / runs.against[i]!.perSec)),
    pairedRatioPerCpuSec: median(runs.this.map((r, i) => r.perCpuSec / runs.against[i]!.perCpuSec)),
  };
  process.stdout.write(
    `medians: this ${num(summary.medianPerSec.this, 0)} events/s vs ${num(summary.medianPerSec.against, 0)} (paired ratio ${num(summary.pairedRatioPerSec, 2)}); ` +
      `this ${num(summary.medianPerCpuSec.this, 0)} events/CPU-s vs ${num(summary.medianPerCpuSec.against, 0)} (paired ratio ${num(summary.pairedRatioPerCpuSec, 2)})\n`,
  );
  return { runs, ...summary };
}

await main();
