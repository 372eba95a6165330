import type { EventCodec } from '../../src/codec/event-codec.js';
import { eventRecord } from '../../src/client/event-record.js';
import type { StateEvent } from '../../src/domain/index.js';
import type { EventLog, LogRecord } from '../../src/log/port.js';
import type { Metrics } from '../../src/telemetry/metrics.js';

/** Appends events (already in log order) in chunks, each with the headers the client writes. */
export async function appendEvents(log: EventLog, topic: string, codec: EventCodec, events: readonly StateEvent[], chunk = 500): Promise<void> {
  for (let i = 0; i < events.length; i += chunk) {
    const records: LogRecord[] = await Promise.all(events.slice(i, i + chunk).map(async (e) => eventRecord(e, await codec.encode(e))));
    await log.append(topic, records);
  }
}

/** Records analytics must count and skip, never crash on: one per reason. */
export function badRecords(sample: StateEvent): Array<{ reason: string; record: LogRecord }> {
  const unknown = { ...sample, instanceId: 'bad-unknown', version: 1, eventType: 'made_up' };
  const { stateChecksum: _dropped, ...missing } = { ...sample, instanceId: 'bad-missing', version: 1 };
  return [
    { reason: 'unknown_type', record: { key: 'bad-unknown', value: Buffer.from(JSON.stringify(unknown)) } },
    { reason: 'missing_field', record: { key: 'bad-missing', value: Buffer.from(JSON.stringify(missing)) } },
    { reason: 'undecodable', record: { key: 'bad-garbage', value: Buffer.from([0xff, 0x00, 0x13, 0x37]) } },
    { reason: 'wrong_key', record: { key: 'bad-wrongkey', value: Buffer.from(JSON.stringify({ ...sample, version: 1 })) } },
  ];
}

/** A Metrics that keeps counters by name and labels, for assertions. */
export class CountingMetrics implements Metrics {
  readonly counts = new Map<string, number>();
  inc(name: string, labels: Record<string, string> = {}, by = 1): void {
    const key = `${name}${JSON.stringify(labels)}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + by);
  }
  set(): void {}
  observe(): void {}
  get(name: string, labels: Record<string, string> = {}): number {
    return this.counts.get(`${name}${JSON.stringify(labels)}`) ?? 0;
  }
}
