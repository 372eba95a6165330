import { describe, expect, it } from 'vitest';
import { AppendBatcher } from '../../../src/client/batcher.js';
import type { AppendResult, EventLog, LogRecord } from '../../../src/log/port.js';

/** An EventLog whose appends complete when the test says so, recording each request's keys. */
function gatedLog() {
  const requests: string[][] = [];
  const gates: Array<() => void> = [];
  let offset = 0;
  const log = {
    append: async (topic: string, records: LogRecord[]): Promise<AppendResult[]> => {
      requests.push(records.map((r) => r.key));
      await new Promise<void>((resolve) => gates.push(resolve));
      return records.map(() => ({ topic, partition: 0, offset: String(offset++) }));
    },
  } as unknown as EventLog;
  const open = async () => {
    while (gates.length === 0) await new Promise((r) => setImmediate(r));
    gates.shift()!();
  };
  return { log, requests, open };
}

const rec = (key: string, bytes = 10): LogRecord => ({ key, value: Buffer.alloc(bytes) });

describe('AppendBatcher', () => {
  it('sends what arrives while a request is in flight in one next request, in arrival order', async () => {
    const { log, requests, open } = gatedLog();
    const b = new AppendBatcher(log, 't', 0);
    const first = b.append(rec('a1'));
    await new Promise((r) => setImmediate(r));
    // Over several ticks: each tick's flush finds a request in flight.
    const later: Promise<AppendResult>[] = [];
    for (const keys of [['b1'], ['a2'], ['c1', 'a3']]) {
      for (const k of keys) later.push(b.append(rec(k)));
      await new Promise((r) => setImmediate(r));
    }
    expect(requests).toEqual([['a1']]); // one request in flight at a time
    await open();
    await first;
    await open();
    const offsets = (await Promise.all(later)).map((r) => r.offset);
    expect(requests).toEqual([['a1'], ['b1', 'a2', 'c1', 'a3']]);
    expect(offsets).toEqual(['1', '2', '3', '4']);
    await b.flush();
  });

  it('splits a request at maxBatch records and maxBatchBytes of values, always sending at least one', async () => {
    const { log, requests, open } = gatedLog();
    const b = new AppendBatcher(log, 't', 0, 3, 100);
    const all = [rec('x0', 150), rec('x1', 40), rec('x2', 40), rec('x3', 40), rec('x4'), rec('x5'), rec('x6'), rec('x7')].map((r) => b.append(r));
    const done = Promise.all(all);
    for (let i = 0; i < 4; i++) await open();
    await done;
    expect(requests).toEqual([['x0'], ['x1', 'x2'], ['x3', 'x4', 'x5'], ['x6', 'x7']]);
  });

  it('fails only the records of a failed request', async () => {
    let calls = 0;
    const log = {
      append: async (topic: string, records: LogRecord[]) => {
        if (calls++ === 0) throw new Error('broker down');
        return records.map((_, i) => ({ topic, partition: 0, offset: String(i) }));
      },
    } as unknown as EventLog;
    const b = new AppendBatcher(log, 't', 0);
    const first = b.append(rec('a'));
    await expect(first).rejects.toThrow('broker down');
    await expect(b.append(rec('b'))).resolves.toMatchObject({ offset: '0' });
  });
});
