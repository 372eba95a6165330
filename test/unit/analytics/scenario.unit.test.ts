import { describe, expect, it } from 'vitest';
import { JsonEventCodec } from '../../../src/client/index.js';
import { ANOMALY_TYPES, PartitionFold, bodyReader, readFact, resolveSettings, type AnomalyRecord } from '../../../src/analytics/index.js';
import { scoreAnomalies } from '../../../src/analytics/score.js';
import { buildFaultScenario, INJECTED_FAULTS, SCENARIO_THRESHOLDS } from '../../../src/demo/faults.js';
import { kafkaPartition } from '../../../src/log/partitioner.js';
import type { StoredRecord } from '../../../src/log/port.js';

/** Folds a scenario through the pure analytics fold (4 partitions) and returns the latest version of every anomaly. */
async function detect(events: ReturnType<typeof buildFaultScenario>['events']): Promise<AnomalyRecord[]> {
  const codec = new JsonEventCodec();
  const settings = resolveSettings({ thresholds: SCENARIO_THRESHOLDS });
  const folds = new Map<number, PartitionFold>();
  const offsets = new Map<number, number>();
  const seen = new Map<string, AnomalyRecord>();
  const read = bodyReader();
  for (const e of events) {
    const partition = kafkaPartition(e.instanceId, 4);
    const offset = offsets.get(partition) ?? 0;
    offsets.set(partition, offset + 1);
    const record: StoredRecord = { topic: 'events', partition, offset: String(offset), key: e.instanceId, value: await codec.encode(e), headers: {}, timestamp: e.timestamp };
    let fold = folds.get(partition);
    if (!fold) folds.set(partition, (fold = new PartitionFold(partition, settings)));
    fold.add(record.key, record.offset, await readFact(record, read));
  }
  for (const fold of folds.values()) for (const c of fold.drain().anomalies) seen.set(c.record.anomalyId, c.record);
  return [...seen.values()];
}

describe('labelled fault scenario (issue 16)', () => {
  it('flags every injected fault with its type and no healthy agent', async () => {
    const scenario = buildFaultScenario({ seed: 7, faults: INJECTED_FAULTS, healthy: 16, perFault: 1, durationMs: 75_000 });
    const anomalies = await detect(scenario.events);
    const scores = scoreAnomalies(scenario.labels, anomalies, ANOMALY_TYPES);
    for (const s of scores) {
      expect({ type: s.type, missed: s.missedAgents, wrong: s.wrongAgents }).toEqual({ type: s.type, missed: [], wrong: [] });
      if (s.injected > 0) expect(s.latencyMsMax!).toBeLessThanOrEqual(10_000);
    }
    const healthy = new Set(scenario.labels.filter((l) => l.fault === null).map((l) => l.instanceId));
    expect(anomalies.filter((a) => healthy.has(a.instanceId))).toEqual([]);
  });

  it('is reproducible: the same seed gives the same events and anomalies', async () => {
    const a = buildFaultScenario({ seed: 3, healthy: 4, perFault: 1, durationMs: 60_000 });
    const b = buildFaultScenario({ seed: 3, healthy: 4, perFault: 1, durationMs: 60_000 });
    expect(b.events.map((e) => e.stateChecksum)).toEqual(a.events.map((e) => e.stateChecksum));
    expect(b.labels).toEqual(a.labels);
    expect(await detect(b.events)).toEqual(await detect(a.events));
  });
});
