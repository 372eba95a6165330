import { describe, expect, it } from 'vitest';
import { TicketedRun } from '../../../src/client/coalesce.js';

/** A task whose runs finish when the test says so; each run answers its own number. */
function gatedTask() {
  const gates: Array<() => void> = [];
  let runs = 0;
  const task = async (): Promise<number> => {
    const n = ++runs;
    await new Promise<void>((resolve) => gates.push(resolve));
    return n;
  };
  return { task, gates, runs: () => runs };
}

describe('TicketedRun (the claim feed reads a decision shares)', () => {
  it('shares a run under way only with callers whose ticket precedes its start', async () => {
    const { task, gates, runs } = gatedTask();
    const r = new TicketedRun(task);
    // Three writes acknowledged by one produce answer take their tickets first...
    const [t1, t2, t3] = [r.ticket(), r.ticket(), r.ticket()];
    // ...then decide: the first starts a read, the others share it.
    const a = r.run(t1);
    const b = r.run(t2);
    const c = r.run(t3);
    expect(runs()).toBe(1);
    // An acknowledgement after the read started must not share it (the read may predate its record).
    const late = r.run(r.ticket());
    const late2 = r.run();
    expect(runs()).toBe(1);
    gates.shift()!();
    expect(await Promise.all([a, b, c])).toEqual([1, 1, 1]);
    // The late callers share the next run, started after the first one ended.
    while (gates.length === 0) await new Promise((resolve) => setImmediate(resolve));
    expect(runs()).toBe(2);
    gates.shift()!();
    expect(await Promise.all([late, late2])).toEqual([2, 2]);
  });

  it('starts a new run for a caller when none is under way, and a failed run fails only its sharers', async () => {
    const r = new TicketedRun(() => Promise.reject(new Error('feed unreachable')));
    const t = r.ticket();
    await expect(r.run(t)).rejects.toThrow('feed unreachable');
    await expect(r.run()).rejects.toThrow('feed unreachable');
    let n = 0;
    const ok = new TicketedRun(() => Promise.resolve(++n));
    expect(await ok.run()).toBe(1);
    expect(await ok.run()).toBe(2);
  });
});
