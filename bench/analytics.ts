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
 * Options: --agents N (healthy agents, default 300), --seconds S (log time, default 60).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
      const started = performance.now();
      let seen = 0;
      const ac = new AbortController();
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
      ac.abort();
      const s = (performance.now() - started) / 1000;
      rows.push({ run: 'baseline: bare consume', events: seen, seconds: s, eventsPerSec: seen / s, ratio: '1.00' });
    }
    const base = rows[0]!.eventsPerSec;

    // The analytics consumer, end to end.
    {
      const store = new SqliteAnalyticsStore({ path: join(dir, 'analytics.sqlite') });
      await store.setup();
      const started = performance.now();
      await new AnalyticsConsumer({ log, store, read: bodyReader(), topicPrefix: prefix, maxBatchRecords: 2000 }).runUntilCaughtUp(undefined, 20);
      const s = (performance.now() - started) / 1000;
      rows.push({ run: 'analytics consumer (SQLite store)', events: total, seconds: s, eventsPerSec: total / s, ratio: num(total / s / base, 2) });
      await store.close();
    }

    // Fold only: the records in memory, no I/O; with the scan, then with every record parsed.
    const records: StoredRecord[] = [];
    const end = await log.endOffsets(topics.events);
    for (const [p, until] of Object.entries(end)) records.push(...(await log.read(topics.events, Number(p), '0', until)));
    const foldOnly = async (run: string, reader: (r: StoredRecord) => Promise<FactReading>): Promise<void> => {
      const settings = resolveSettings();
      const folds = new Map<number, PartitionFold>();
      const started = performance.now();
      for (const r of records) {
        let f = folds.get(r.partition);
        if (!f) folds.set(r.partition, (f = new PartitionFold(r.partition, settings)));
        f.add(r.key, r.offset, await reader(r));
      }
      for (const f of folds.values()) f.drain();
      const s = (performance.now() - started) / 1000;
      rows.push({ run, events: records.length, seconds: s, eventsPerSec: records.length / s, ratio: num(records.length / s / base, 2) });
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
      ])}\n\ngoal: analytics >= 20000 events/s on one core\n`,
    );
    const file = writeResults('analytics', { agents: AGENTS, seconds: SECONDS, events: total, rows });
    process.stderr.write(`results: ${file}\n`);
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
