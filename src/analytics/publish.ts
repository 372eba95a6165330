import type { EventLog } from '../log/port.js';
import type { AnomalyRecord } from './anomaly.js';

/** The `Anomaly` record as `schemas/Anomaly.avsc` spells it (avsc's shape). */
export interface WireAnomaly {
  anomalyId: string;
  instanceId: string;
  agentType: string | null;
  detectedAt: number;
  kind: string;
  severity: string;
  status: string;
  lastSeenAt: number | null;
  resolvedAt: number | null;
  observed: number | null;
  expected: number | null;
  score: number | null;
  fromVersion: number | null;
  toVersion: number | null;
  description: string;
  details: Record<string, string>;
}

export function anomalyToWire(a: AnomalyRecord): WireAnomaly {
  return {
    anomalyId: a.anomalyId,
    instanceId: a.instanceId,
    agentType: a.agentType,
    detectedAt: a.firstSeenAt,
    kind: a.type,
    severity: a.severity,
    status: a.status,
    lastSeenAt: a.lastSeenAt,
    resolvedAt: a.resolvedAt,
    observed: a.observed,
    expected: a.expected,
    score: a.score,
    fromVersion: a.fromVersion,
    toVersion: a.toVersion,
    description: a.description,
    details: a.evidence,
  };
}

/** Headers of an anomaly record, so a consumer can filter without decoding. */
export const ANOMALY_HEADER = { anomalyId: 'anomalyId', type: 'anomalyType', status: 'anomalyStatus', severity: 'severity' } as const;

/** Appends anomalies to `<prefix>anomalies`, keyed by instanceId (one agent's anomalies in order). */
export class AnomalyPublisher {
  constructor(
    private readonly log: EventLog,
    private readonly topic: string,
    /** Avro + registry on Kafka (`Anomaly` under `<topic>-value`); JSON embedded. */
    private readonly encode: (wire: WireAnomaly) => Promise<Buffer>,
  ) {}

  async publish(anomalies: readonly AnomalyRecord[]): Promise<void> {
    if (anomalies.length === 0) return;
    const records = await Promise.all(
      anomalies.map(async (a) => ({
        key: a.instanceId,
        value: await this.encode(anomalyToWire(a)),
        headers: { [ANOMALY_HEADER.anomalyId]: a.anomalyId, [ANOMALY_HEADER.type]: a.type, [ANOMALY_HEADER.status]: a.status, [ANOMALY_HEADER.severity]: a.severity },
        timestamp: a.status === 'resolved' ? (a.resolvedAt ?? a.lastSeenAt) : a.lastSeenAt,
      })),
    );
    await this.log.append(this.topic, records);
  }
}

/** JSON encoding for the embedded profile (no registry). */
export async function jsonAnomaly(wire: WireAnomaly): Promise<Buffer> {
  return Buffer.from(JSON.stringify(wire), 'utf8');
}
