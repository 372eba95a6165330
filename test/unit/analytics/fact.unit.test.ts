import { describe, expect, it } from 'vitest';
import { JsonEventCodec } from '../../../src/client/index.js';
import { bodyReader, readFact } from '../../../src/analytics/index.js';
import { buildFaultScenario } from '../../../src/demo/faults.js';
import { elideOldValues, type Change } from '../../../src/domain/index.js';
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
