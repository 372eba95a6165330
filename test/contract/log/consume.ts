import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { byPartition, consumeUntil, deferred, eventually, rec, type LogContext } from './helpers.js';

/** Consumer groups: delivery order, commit-after-handler, redelivery. */
export function consumeContract(ctx: LogContext): void {
  it('delivers every record once, per partition in offset order, in single-partition batches, and commits the end', async () => {
    const topic = await ctx.topic({ partitions: 3 });
    const group = ctx.group();
    const keys = Array.from({ length: 12 }, (_, i) => `agent-${i}`);
    const appended = await ctx.log().append(
      topic,
      Array.from({ length: 240 }, (_, i) => rec(keys[i % keys.length]!, `v${i}`)),
    );
    const { batches, records } = await consumeUntil(ctx.log(), { group, topics: [topic], fromBeginning: true, maxBatchRecords: 25 }, (rs) => rs.length >= appended.length);
    expect(records).toHaveLength(appended.length);
    for (const b of batches) {
      expect(b.topic).toBe(topic);
      expect(b.records.length).toBeGreaterThan(0);
      expect(b.records.length).toBeLessThanOrEqual(25);
      for (const r of b.records) expect(r.partition).toBe(b.partition);
      const last = BigInt(b.records[b.records.length - 1]!.offset);
      expect(BigInt(b.highWatermark)).toBeGreaterThan(last);
    }
    const ends = await ctx.log().endOffsets(topic);
    for (const [p, list] of byPartition(records)) {
      expect(list.map((r) => r.offset)).toEqual(list.map((_, i) => String(i)));
      const expected = appended.filter((a) => a.partition === p).map((a) => a.offset);
      expect(list.map((r) => r.offset)).toEqual(expected);
    }
    // Every value arrived exactly once.
    expect(records.map((r) => r.value!.toString()).sort()).toEqual(appended.map((_, i) => `v${i}`).sort());
    await eventually(async () => JSON.stringify(await ctx.log().committedOffsets(group, topic)) === JSON.stringify(nonZero(ends)), 'commit of the end offsets');
  });

  it('delivers records appended while the consumer runs', async () => {
    const topic = await ctx.topic({ partitions: 2 });
    const group = ctx.group();
    await ctx.log().append(topic, [rec('first', 'x')]);
    const appendLater = (async () => {
      // The consumer is running by then (it has to deliver the first record to be satisfied).
      await eventually(async () => Object.keys(await ctx.log().committedOffsets(group, topic)).length > 0, 'first commit');
      await ctx.log().append(topic, [rec('later-1', 'y'), rec('later-2', 'z')]);
    })();
    const { records } = await consumeUntil(ctx.log(), { group, topics: [topic], fromBeginning: true, maxBatchRecords: 1 }, (rs) => rs.length >= 3);
    await appendLater;
    expect(records.map((r) => r.key).sort()).toEqual(['first', 'later-1', 'later-2']);
  });

  it('commits a batch only after its handler resolves', async () => {
    const topic = await ctx.topic({ partitions: 1 });
    const group = ctx.group();
    await ctx.log().append(
      topic,
      Array.from({ length: 5 }, (_, i) => rec('k', `v${i}`)),
    );
    // First member: its handler is held, then fails. Waiting on `done` (not on a
    // guessed delay) means every commit the consumer issued has completed: a lax
    // adapter that commits on delivery (auto-commit) would show one now.
    const gate = deferred();
    let delivered: string[] = [];
    const held = await ctx.log().consume({
      group,
      topics: [topic],
      fromBeginning: true,
      handler: async (batch) => {
        delivered = batch.records.map((r) => r.offset);
        await gate.promise;
        throw new Error('handler never resolved');
      },
    });
    await eventually(async () => delivered.length > 0, 'first batch delivered');
    expect(delivered[0]).toBe('0');
    gate.resolve();
    await expect(held.done).rejects.toThrow('handler never resolved');
    expect(await ctx.log().committedOffsets(group, topic)).toEqual({});
    // Second member: the same records again, and a commit once its handler resolved.
    const { records } = await consumeUntil(ctx.log(), { group, topics: [topic], fromBeginning: true }, (rs) => rs.length >= 5);
    expect(records.map((r) => r.offset).slice(0, delivered.length)).toEqual(delivered);
    await eventually(async () => (await ctx.log().committedOffsets(group, topic))[0] === '5', 'commit after the handler resolved');
  });

  it('stops on a throwing handler without committing, and the group gets the same batch again', async () => {
    const topic = await ctx.topic({ partitions: 1 });
    const group = ctx.group();
    await ctx.log().append(
      topic,
      Array.from({ length: 30 }, (_, i) => rec('k', `v${i}`)),
    );
    // First run: handle the first batch, throw on the second.
    const seen: string[][] = [];
    const failing = await ctx.log().consume({
      group,
      topics: [topic],
      fromBeginning: true,
      maxBatchRecords: 10,
      handler: async (batch) => {
        seen.push(batch.records.map((r) => r.offset));
        if (seen.length === 2) throw new Error('handler failed on purpose');
      },
    });
    await expect(failing.done).rejects.toThrow('handler failed on purpose');
    await failing.stop(); // stopping a stopped consumer is harmless
    expect(seen).toHaveLength(2);
    const failedFirst = seen[1]![0]!;
    const committed = await ctx.log().committedOffsets(group, topic);
    expect(committed[0]).toBe(String(BigInt(seen[0]![seen[0]!.length - 1]!) + 1n));
    expect(committed[0]).toBe(failedFirst);

    // Second run of the same group: the failed batch comes again, then the rest.
    const { records } = await consumeUntil(ctx.log(), { group, topics: [topic], fromBeginning: true, maxBatchRecords: 10 }, (rs) => rs.some((r) => r.offset === '29'));
    expect(records[0]!.offset).toBe(failedFirst);
    expect(records.map((r) => r.offset)).toEqual(Array.from({ length: 30 - Number(failedFirst) }, (_, i) => String(Number(failedFirst) + i)));
    await eventually(async () => (await ctx.log().committedOffsets(group, topic))[0] === '30', 'commit of the end');
  });

  it('stops when its AbortSignal aborts, and done resolves', async () => {
    const topic = await ctx.topic({ partitions: 1 });
    const group = ctx.group();
    await ctx.log().append(topic, [rec('k', 'v')]);
    const controller = new AbortController();
    let delivered = 0;
    const consumer = await ctx.log().consume({
      group,
      topics: [topic],
      fromBeginning: true,
      signal: controller.signal,
      handler: async (batch) => {
        delivered += batch.records.length;
        controller.abort();
      },
    });
    await expect(consumer.done).resolves.toBeUndefined();
    expect(delivered).toBe(1);
    // The batch in hand when the signal fired was still committed.
    expect(await ctx.log().committedOffsets(group, topic)).toEqual({ 0: '1' });
  });

  it('delivers a 1 MB value and tombstones to a consumer intact', async () => {
    const topic = await ctx.topic({ partitions: 1, compacted: true });
    const group = ctx.group();
    const big = randomBytes(1_000_000);
    await ctx.log().append(topic, [rec('big', big, { headers: { kind: 'large' } }), rec('big', null)]);
    const { records } = await consumeUntil(ctx.log(), { group, topics: [topic], fromBeginning: true }, (rs) => rs.length >= 2);
    expect(records[0]!.value!.equals(big)).toBe(true);
    expect(records[0]!.headers).toEqual({ kind: 'large' });
    expect(records[1]!.value).toBeNull();
  });
}

/** End offsets with empty partitions left out (a group commits only where it consumed). */
function nonZero(ends: Record<number, string>): Record<number, string> {
  return Object.fromEntries(Object.entries(ends).filter(([, o]) => o !== '0'));
}
