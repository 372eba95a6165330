import type { AnomalyRecord } from './anomaly.js';

/** A scenario's ground truth per agent (src/demo/faults.ts FaultLabel has this shape). */
export interface Label {
  instanceId: string;
  fault: string | null;
  startsAt: number | null;
}

export interface TypeScore {
  type: string;
  injected: number;
  /** Injected faults flagged with their type. */
  detected: number;
  /** Agents flagged with this type that did not get this fault (healthy ones, or faulty with another fault). */
  falsePositives: number;
  precision: number;
  recall: number;
  /** Log time from fault start to the first anomaly of its type, ms. */
  latencyMsMedian: number | null;
  latencyMsMax: number | null;
  /** Agents flagged with this type wrongly (for the report). */
  wrongAgents: string[];
  missedAgents: string[];
}

/**
 * Precision, recall and detection latency per anomaly type, by agent: an
 * agent counts once per type however many anomalies it got. An anomaly on a
 * faulty agent before its fault started counts as a false positive.
 */
export function scoreAnomalies(labels: readonly Label[], anomalies: readonly AnomalyRecord[], types: readonly string[]): TypeScore[] {
  const byAgent = new Map(labels.map((l) => [l.instanceId, l]));
  return types.map((type) => {
    const flagged = new Map<string, number>();
    const wrong = new Set<string>();
    for (const a of anomalies) {
      if (a.type !== type) continue;
      const l = byAgent.get(a.instanceId);
      if (!l || l.fault !== type || a.firstSeenAt < (l.startsAt ?? Infinity)) wrong.add(a.instanceId);
      else flagged.set(a.instanceId, Math.min(flagged.get(a.instanceId) ?? Infinity, a.firstSeenAt));
    }
    const injected = labels.filter((l) => l.fault === type);
    const latencies = injected
      .filter((l) => flagged.has(l.instanceId))
      .map((l) => flagged.get(l.instanceId)! - l.startsAt!)
      .sort((a, b) => a - b);
    const tp = latencies.length;
    return {
      type,
      injected: injected.length,
      detected: tp,
      falsePositives: wrong.size,
      precision: tp + wrong.size === 0 ? 1 : tp / (tp + wrong.size),
      recall: injected.length === 0 ? 1 : tp / injected.length,
      latencyMsMedian: tp === 0 ? null : latencies[(tp - 1) >> 1]!,
      latencyMsMax: tp === 0 ? null : latencies[tp - 1]!,
      wrongAgents: [...wrong].sort(),
      missedAgents: injected.filter((l) => !flagged.has(l.instanceId)).map((l) => l.instanceId),
    };
  });
}
