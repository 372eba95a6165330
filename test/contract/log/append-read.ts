import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { kafkaPartition } from '../../../src/log/partitioner.js';
import type { StoredRecord } from '../../../src/log/port.js';
import { byPartition, rec, type LogContext } from './helpers.js';

/** Appending, partitioning, offsets and reads without a consumer group. */
export function appendAndReadContract(ctx: LogContext): void {
  it('puts each key in the partition Kafka’s default partitioner picks', async () => {
    const topic = await ctx.topic({ partitions: 6 });
    const keys = Array.from({ length: 40 }, (_, i) => `agent-${i}-${randomBytes(3).toString('hex')}`);
    const results = await ctx.log().append(
      topic,
      keys.map((k) => rec(k, k)),
    );
    expect(results).toHaveLength(keys.length);
    for (const [i, key] of keys.entries()) {
      expect(results[i]!.topic).toBe(topic);
      expect(results[i]!.partition).toBe(kafkaPartition(key, 6));
      expect(await ctx.log().partitionFor(topic, key)).toBe(kafkaPartition(key, 6));
    }
  });

  it('gives contiguous offsets per partition from 0, keeps per-key order across appends, and reads ranges back', async () => {
    const topic = await ctx.topic({ partitions: 3 });
    const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const appended = [];
    // Several appends of interleaved keys: one key's records must stay in append order.
    for (let round = 0; round < 4; round++) {
      const batch = keys.flatMap((k) => [rec(k, `${k}:${round}:0`), rec(k, `${k}:${round}:1`)]);
      const results = await ctx.log().append(topic, batch);
      appended.push(...results.map((r, i) => ({ ...r, value: batch[i]!.value!.toString() })));
    }
    const parts = byPartition(appended.map((a) => ({ ...a, key: '', value: null, headers: {}, timestamp: 0 })));
    const ends = await ctx.log().endOffsets(topic);
    expect(Object.keys(ends).map(Number).sort()).toEqual([0, 1, 2]);
    for (let p = 0; p < 3; p++) {
      const offsets = (parts.get(p) ?? []).map((r) => r.offset);
      expect(offsets).toEqual(offsets.map((_, i) => String(i)));
      expect(ends[p]).toBe(String(offsets.length));
    }
    expect(await ctx.log().startOffsets(topic)).toEqual({ 0: '0', 1: '0', 2: '0' });

    for (let p = 0; p < 3; p++) {
      const stored = await ctx.log().read(topic, p, '0', ends[p]!);
      expect(stored.map((r) => r.offset)).toEqual(stored.map((_, i) => String(i)));
      expect(stored.map((r) => r.value!.toString())).toEqual(appended.filter((a) => a.partition === p).map((a) => a.value));
      for (const r of stored) {
        expect(r.topic).toBe(topic);
        expect(r.partition).toBe(p);
        expect(kafkaPartition(r.key, 3)).toBe(p);
      }
      // Per key, the values come back in the order they were appended.
      for (const key of keys.filter((k) => kafkaPartition(k, 3) === p)) {
        const values = stored.filter((r) => r.key === key).map((r) => r.value!.toString());
        expect(values).toEqual([0, 1, 2, 3].flatMap((round) => [`${key}:${round}:0`, `${key}:${round}:1`]));
      }
    }
  });

  it('reads exactly the half-open range [from, until)', async () => {
    const topic = await ctx.topic({ partitions: 1 });
    await ctx.log().append(
      topic,
      Array.from({ length: 10 }, (_, i) => rec('k', `v${i}`)),
    );
    const middle = await ctx.log().read(topic, 0, '3', '7');
    expect(middle.map((r) => r.offset)).toEqual(['3', '4', '5', '6']);
    expect(middle.map((r) => r.value!.toString())).toEqual(['v3', 'v4', 'v5', 'v6']);
    expect(await ctx.log().read(topic, 0, '5', '5')).toEqual([]);
    expect((await ctx.log().read(topic, 0, '9', '10')).map((r) => r.offset)).toEqual(['9']);
  });

  it('fetches onward from given offsets of several partitions without a group, and waits at the end for the next record', async () => {
    const topic = await ctx.topic({ partitions: 3 });
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    await ctx.log().append(
      topic,
      keys.flatMap((k) => [rec(k, `${k}0`), rec(k, `${k}1`)]),
    );
    const ends = await ctx.log().endOffsets(topic);
    // An adapter may return a first part of what is there: fetch until every partition is at its end.
    let from: Record<number, string> = { 0: '0', 1: '0', 2: '0' };
    const got: StoredRecord[] = [];
    while (Object.entries(ends).some(([p, e]) => from[Number(p)] !== e)) {
      const r = await ctx.log().fetch(topic, from, 0);
      expect(r.records.length).toBeGreaterThan(0);
      got.push(...r.records);
      from = r.next;
    }
    expect(from).toEqual(ends);
    for (let p = 0; p < 3; p++) {
      const mine = got.filter((r) => r.partition === p);
      expect(mine.map((r) => r.offset)).toEqual(mine.map((_, i) => String(i)));
      for (const key of keys.filter((k) => kafkaPartition(k, 3) === p)) {
        expect(mine.filter((r) => r.key === key).map((r) => r.value!.toString())).toEqual([`${key}0`, `${key}1`]);
      }
    }
    // From the middle of one partition only: that partition's rest, nothing of the others.
    const some = got.find((r) => r.offset === '1')!;
    const rest = await ctx.log().fetch(topic, { [some.partition]: '1' }, 0);
    expect(rest.records.map((r) => [r.partition, r.offset])).toEqual(got.filter((r) => r.partition === some.partition && r.offset !== '0').map((r) => [r.partition, r.offset]));
    // At the end, a fetch waits for the next record: started before the append, it returns that record.
    const waiting = ctx.log().fetch(topic, ends, 20_000);
    const [appended] = await ctx.log().append(topic, [rec('a', 'late')]);
    const late = await waiting;
    expect(late.records.map((r) => r.value!.toString())).toEqual(['late']);
    expect(late.next[appended!.partition]).toBe(String(BigInt(appended!.offset) + 1n));
    // With nothing to come, it returns nothing once the wait is over and leaves the offsets as they were.
    const after = { ...ends, [appended!.partition]: late.next[appended!.partition]! };
    const idle = await ctx.log().fetch(topic, after, 50);
    expect(idle.records).toEqual([]);
    expect(idle.next).toEqual(after);
  });

  it('reports end offsets of an empty topic as 0 and moves only the partitions written to', async () => {
    const topic = await ctx.topic({ partitions: 4 });
    expect(await ctx.log().endOffsets(topic)).toEqual({ 0: '0', 1: '0', 2: '0', 3: '0' });
    const key = 'only-key';
    await ctx.log().append(topic, [rec(key, '1'), rec(key, '2')]);
    const ends = await ctx.log().endOffsets(topic);
    const p = kafkaPartition(key, 4);
    for (let i = 0; i < 4; i++) expect(ends[i]).toBe(i === p ? '2' : '0');
  });

  it('round-trips headers, timestamps, empty values and tombstones', async () => {
    const topic = await ctx.topic({ partitions: 1, compacted: true });
    const before = Date.now();
    const t = before - 30_000;
    await ctx.log().append(topic, [rec('h', 'with headers', { headers: { 'content-type': 'application/avro', reason: 'ünïcödé ✓', empty: '' }, timestamp: t }), rec('h', Buffer.alloc(0)), rec('h', null)]);
    const after = Date.now();
    const [withHeaders, empty, tombstone] = await ctx.log().read(topic, 0, '0', '3');
    expect(withHeaders!.headers).toEqual({ 'content-type': 'application/avro', reason: 'ünïcödé ✓', empty: '' });
    expect(withHeaders!.timestamp).toBe(t);
    expect(withHeaders!.value!.toString()).toBe('with headers');
    expect(empty!.headers).toEqual({});
    expect(empty!.value).not.toBeNull();
    expect(empty!.value!.length).toBe(0);
    // No timestamp given: the log stamps the append time.
    expect(empty!.timestamp).toBeGreaterThanOrEqual(before - 1000);
    expect(empty!.timestamp).toBeLessThanOrEqual(after + 1000);
    expect(tombstone!.key).toBe('h');
    expect(tombstone!.value).toBeNull();
  });

  it('stores and returns a 1 MB value byte for byte', async () => {
    const topic = await ctx.topic({ partitions: 2 });
    const big = randomBytes(1_000_000);
    const [pos] = await ctx.log().append(topic, [rec('big', big)]);
    const [stored] = await ctx.log().read(topic, pos!.partition, pos!.offset, String(BigInt(pos!.offset) + 1n));
    expect(stored!.value!.length).toBe(big.length);
    expect(stored!.value!.equals(big)).toBe(true);
  });

  it('finds offsets by time, and deletes a prefix of a partition, moving its start (DeleteRecords)', async () => {
    const topic = await ctx.topic({ partitions: 1 });
    const t0 = Date.now() - 60_000;
    await ctx.log().append(
      topic,
      Array.from({ length: 6 }, (_, i) => rec('k', `v${i}`, { timestamp: t0 + i * 1000 })),
    );
    // The first record at or after the time; past the last record, the end offset.
    expect(await ctx.log().offsetsAtTime(topic, t0 - 1)).toEqual({ 0: '0' });
    expect(await ctx.log().offsetsAtTime(topic, t0 + 2500)).toEqual({ 0: '3' });
    expect(await ctx.log().offsetsAtTime(topic, t0 + 10_000)).toEqual({ 0: '6' });
    await ctx.log().deleteBefore(topic, { 0: '4' });
    expect(await ctx.log().startOffsets(topic)).toEqual({ 0: '4' });
    expect(await ctx.log().endOffsets(topic)).toEqual({ 0: '6' });
    expect((await ctx.log().read(topic, 0, '4', '6')).map((r) => r.value!.toString())).toEqual(['v4', 'v5']);
    // Never back: a lower offset deletes nothing more and keeps the start.
    await ctx.log().deleteBefore(topic, { 0: '2' });
    expect(await ctx.log().startOffsets(topic)).toEqual({ 0: '4' });
    await expect(ctx.log().deleteBefore(topic, { 0: '7' })).rejects.toThrow();
    expect(await ctx.log().startOffsets(topic)).toEqual({ 0: '4' });
  });
}
