import { describe, expect, it } from 'vitest';
import { JsonEventCodec } from '../../../src/client/index.js';
import { bodyReader, PartitionFold, readFact, resolveSettings } from '../../../src/analytics/index.js';
import { eventRecord } from '../../../src/client/event-record.js';
import { buildFaultScenario } from '../../../src/demo/faults.js';
import { elideOldValues, type Change, type StateEvent } from '../../../src/domain/index.js';
import type { StoredRecord } from '../../../src/log/port.js';

describe('analytics facts of events whose writer left large old values out (oldBytes)', () => {
  it('estimates the same state-size change as from the full old value', async () => {
    const codec = new JsonEventCodec();
    const [base] = buildFaultScenario({ seed: 3, faults: [], healthy: 1, perFault: 0, durationMs: 5_000 }).events;
    const turn = { role: 'assistant', content: 'x'.repeat(1_000) };
    const full: Change[] = [
      { path: '/messages/0', op: 'delete', oldValue: turn },
      { path: '/messages/-', op: 'create', newValue: { role: 'user', content: 'y'.repeat(1_000) } },
    ];
    const elided = elideOldValues(full, 256);
    expect(elided[0]).not.toHaveProperty('oldValue');
    const fact = async (changeset: Change[]) => {
      const event = { ...base!, changeset };
      const record: StoredRecord = { topic: 'events', partition: 0, offset: '0', key: event.instanceId, value: await codec.encode(event), headers: {}, timestamp: event.timestamp };
      const reading = await readFact(record, bodyReader());
      if (reading.kind !== 'fact') throw new Error(`skipped: ${reading.reason}`);
      return reading.fact;
    };
    const [a, b] = [await fact(full), await fact(elided)];
    expect(b.sizeDelta).toBe(a.sizeDelta);
    expect(a.sizeDelta).toBeLessThan(100); // one turn in, one turn out: about even
    expect(b.changesetBytes).toBeLessThan(a.changesetBytes); // the bytes actually written
  });
});

describe("analytics counts an agent's records at their size on the log (key + headers + value)", () => {
  it('per record, and per window over accepted and refused records alike', async () => {
    const codec = new JsonEventCodec();
    const [created, next] = buildFaultScenario({ seed: 5, faults: [], healthy: 1, perFault: 0, durationMs: 5_000 }).events;
    const record = async (e: StateEvent, offset: string): Promise<StoredRecord> => {
      const { key, value, headers } = eventRecord(e, await codec.encode(e));
      return { topic: 'events', partition: 0, offset, key, value, headers: headers ?? {}, timestamp: e.timestamp };
    };
    const records = [await record(created!, '0'), await record(next!, '1'), await record(next!, '2')]; // the last: a duplicate version, refused
    const sizes = records.map((r) => Buffer.from(r.key).length + r.value!.length + Object.entries(r.headers).reduce((t, [k, v]) => t + Buffer.from(k).length + Buffer.from(v).length, 0));
    expect(Object.keys(records[0]!.headers).length).toBeGreaterThan(0);
    const fold = new PartitionFold(0, resolveSettings({ windows: { '1h': 3_600_000 } }));
    for (const r of records) {
      const reading = await readFact(r, bodyReader());
      if (reading.kind !== 'fact') throw new Error(`skipped: ${reading.reason}`);
      expect(reading.fact.recordBytes).toBe(Buffer.byteLength(r.key) + r.value!.length + Object.entries(r.headers).reduce((t, [k, v]) => t + Buffer.byteLength(k) + Buffer.byteLength(v), 0));
      fold.add(r.key, r.offset, reading);
    }
    const [w] = fold.drain().windows;
    expect(w!.writesRejected).toBe(1);
    expect(w!.logBytes).toBe(sizes[0]! + sizes[1]! + sizes[2]!);
    expect(w!.logBytes).toBeGreaterThan(w!.changesetBytes);
  });
});
