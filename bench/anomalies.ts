/**
 * `npm run bench -- anomalies`: precision, recall and detection latency per
 * anomaly type (issue 16; goal >= 0.95 each, latency <= 10 s after the fault
 * starts) on a labelled, seeded scenario larger than the tests' (every fault
 * type, several agents each, hundreds of healthy agents). Detection runs in
 * log time, so the pure fold gives exactly what the service flags.
 * Baseline in the same run: a naive detector with one fleet-wide rule per
 * type and no per-agent baseline (e.g. "more than 3 errors a minute"), to
 * show what the per-agent baselines buy.
 * Options: --agents N (healthy, default 400), --per-fault N (default 6), --seconds S (default 120), --seed S.
 */
import { ANOMALY_TYPES, PartitionFold, bodyReader, readFact, resolveSettings, type AnomalyRecord, type EventFact } from '../src/analytics/index.js';
import { scoreAnomalies, type TypeScore } from '../src/analytics/score.js';
import { JsonEventCodec } from '../src/client/index.js';
import { INJECTED_FAULTS, SCENARIO_THRESHOLDS, buildFaultScenario } from '../src/demo/faults.js';
import { kafkaPartition } from '../src/log/partitioner.js';
import { intArg } from './lib/pipeline.js';
import { writeResults } from './lib/results.js';
import { markdownTable, num } from './lib/table.js';

const HEALTHY = intArg('--agents', 400);
const PER_FAULT = intArg('--per-fault', 6);
const SECONDS = intArg('--seconds', 120);
const SEED = intArg('--seed', 1);

async function main(): Promise<void> {
  process.stderr.write(`building: ${HEALTHY} healthy agents, ${PER_FAULT} per fault type, ${SECONDS}s...\n`);
  const scenario = buildFaultScenario({ seed: SEED, healthy: HEALTHY, perFault: PER_FAULT, faults: INJECTED_FAULTS, durationMs: SECONDS * 1000, faultFromMs: (SECONDS * 1000) / 2, faultToMs: (SECONDS * 1000 * 3) / 4 });
  const codec = new JsonEventCodec();
  const settings = resolveSettings({ thresholds: SCENARIO_THRESHOLDS });
  const folds = new Map<number, PartitionFold>();
  const offsets = new Map<number, number>();
  const found = new Map<string, AnomalyRecord>();
  const naive = new NaiveDetector();
  const read = bodyReader();
  const started = performance.now();
  for (const e of scenario.events) {
    const partition = kafkaPartition(e.instanceId, 6);
    const offset = offsets.get(partition) ?? 0;
    offsets.set(partition, offset + 1);
    const reading = await readFact({ topic: 'events', partition, offset: String(offset), key: e.instanceId, value: await codec.encode(e), headers: {}, timestamp: e.timestamp }, read);
    let fold = folds.get(partition);
    if (!fold) folds.set(partition, (fold = new PartitionFold(partition, settings)));
    fold.add(e.instanceId, String(offset), reading);
    if (reading.kind === 'fact') naive.add(reading.fact);
    for (const c of fold.drain().anomalies) found.set(c.record.anomalyId, c.record);
  }
  const seconds = (performance.now() - started) / 1000;
  const scores = scoreAnomalies(scenario.labels, [...found.values()], ANOMALY_TYPES);
  const baseline = scoreAnomalies(scenario.labels, naive.flags(), ANOMALY_TYPES);
  const rows = scores.map((s, i) => ({ s, b: baseline[i]! }));
  process.stdout.write(
    `\n${scenario.events.length} events, ${scenario.labels.length} agents, folded in ${num(seconds, 1)}s\n\n${markdownTable(rows, [
      { header: 'type', value: (r) => r.s.type, align: 'left' },
      { header: 'injected', value: (r) => r.s.injected },
      { header: 'detected', value: (r) => r.s.detected },
      { header: 'false pos.', value: (r) => r.s.falsePositives },
      { header: 'precision', value: (r) => num(r.s.precision, 3) },
      { header: 'recall', value: (r) => num(r.s.recall, 3) },
      { header: 'latency median s', value: (r) => (r.s.latencyMsMedian === null ? '-' : num(r.s.latencyMsMedian / 1000, 1)) },
      { header: 'latency max s', value: (r) => (r.s.latencyMsMax === null ? '-' : num(r.s.latencyMsMax / 1000, 1)) },
      { header: 'naive precision', value: (r) => num(r.b.precision, 3) },
      { header: 'naive recall', value: (r) => num(r.b.recall, 3) },
    ])}\n\ngoal: precision and recall >= 0.95, latency <= 10 s\n`,
  );
  const failing = scores.filter((s) => s.injected > 0 && (s.precision < 0.95 || s.recall < 0.95 || (s.latencyMsMax ?? 0) > 10_000));
  for (const s of failing) process.stdout.write(`below goal: ${s.type} wrong ${s.wrongAgents.join(' ')} missed ${s.missedAgents.join(' ')}\n`);
  const file = writeResults('anomalies', { healthy: HEALTHY, perFault: PER_FAULT, seconds: SECONDS, seed: SEED, events: scenario.events.length, scores: scores.map(strip), naive: baseline.map(strip) });
  process.stderr.write(`results: ${file}\n`);
  if (failing.length > 0) process.exitCode = 1;
}

function strip(s: TypeScore): Omit<TypeScore, 'wrongAgents' | 'missedAgents'> {
  const { wrongAgents: _w, missedAgents: _m, ...rest } = s;
  return rest;
}

/**
 * The comparison: fixed fleet-wide rules, no per-agent baseline, no
 * robust statistics. Flags an agent once per type, at the first event the rule holds.
 */
class NaiveDetector {
  private readonly agents = new Map<string, { times: number[]; errors: number[]; sizes: number; size0: number; last: number; keys: string[]; statuses: number[]; owners: number[]; task: number | null }>();
  private readonly out: AnomalyRecord[] = [];
  private readonly flagged = new Set<string>();

  add(f: EventFact): void {
    let a = this.agents.get(f.instanceId);
    if (!a) this.agents.set(f.instanceId, (a = { times: [], errors: [], sizes: 0, size0: 0, last: f.timestamp, keys: [], statuses: [], owners: [], task: null }));
    const t = f.timestamp;
    // Stall: judged at the agent's next event (no watermark): more than 5 s since the last.
    if (t - a.last > 5000) this.flag(f, 'velocity_stall', t);
    a.last = t;
    a.times = [...a.times.filter((x) => x > t - 60_000), t];
    if (a.times.length > 600) this.flag(f, 'velocity_spike', t); // > 10 events/s over a minute
    if (f.eventType === 'error_occurred' || f.eventType === 'task_failed') a.errors = [...a.errors.filter((x) => x > t - 60_000), t];
    if (a.errors.length > 3) this.flag(f, 'error_burst', t);
    a.sizes += f.sizeDelta;
    if (a.sizes > 200_000) this.flag(f, 'runaway_growth', t);
    a.keys = [...a.keys.slice(-2), f.changeKey ?? ''];
    if (a.keys.length === 3 && a.keys.every((k) => k !== '' && k === a.keys[0])) this.flag(f, 'loop', t);
    if (f.status !== undefined) a.statuses = [...a.statuses.filter((x) => x > t - 60_000), t];
    if (a.statuses.length > 20) this.flag(f, 'status_flapping', t);
    if (f.eventType === 'ownership_acquired') a.owners = [...a.owners.filter((x) => x > t - 60_000), t];
    if (a.owners.length > 3) this.flag(f, 'fencing_storm', t);
    if (f.eventType === 'task_assigned') a.task = t;
    else if (f.eventType === 'task_completed' || f.eventType === 'error_occurred' || f.eventType === 'task_failed') a.task = null;
    if (a.task !== null && t - a.task > 6000) this.flag(f, 'stuck_task', t);
  }

  private flag(f: EventFact, type: AnomalyRecord['type'], at: number): void {
    const id = `${f.instanceId}/${type}`;
    if (this.flagged.has(id)) return;
    this.flagged.add(id);
    this.out.push({
      anomalyId: id,
      instanceId: f.instanceId,
      agentType: null,
      type,
      severity: 'warning',
      status: 'active',
      firstSeenAt: at,
      lastSeenAt: at,
      resolvedAt: null,
      fromVersion: f.version,
      toVersion: f.version,
      observed: null,
      expected: null,
      score: null,
      description: '',
      evidence: {},
    });
  }

  flags(): AnomalyRecord[] {
    return this.out;
  }
}

await main();
