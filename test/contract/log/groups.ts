import { expect, it } from 'vitest';
import type { AgentStateError } from '../../../src/errors.js';
import { consumeUntil, heldConsumer, rec, type LogContext } from './helpers.js';

/** Moving consumer groups (replay is an offset reset, DESIGN.md). */
export function groupResetContract(ctx: LogContext): void {
  /** A topic with 20 records spread over 2 partitions, fully consumed by a fresh group. */
  async function consumedTopic(): Promise<{ topic: string; group: string; ends: Record<number, string> }> {
    const topic = await ctx.topic({ partitions: 2 });
    const group = ctx.group();
    await ctx.log().append(
      topic,
      Array.from({ length: 20 }, (_, i) => rec(`key-${i % 5}`, `v${i}`)),
    );
    await consumeUntil(ctx.log(), { group, topics: [topic], fromBeginning: true }, (rs) => rs.length >= 20);
    return { topic, group, ends: await ctx.log().endOffsets(topic) };
  }

  it('resets to earliest, and the group receives the whole topic again', async () => {
    const { topic, group } = await consumedTopic();
    const offsets = await ctx.log().resetGroup(group, topic, { to: 'earliest' });
    expect(offsets).toEqual(await ctx.log().startOffsets(topic));
    expect(await ctx.log().committedOffsets(group, topic)).toEqual(offsets);
    const { records } = await consumeUntil(ctx.log(), { group, topics: [topic] }, (rs) => rs.length >= 20);
    expect(records.map((r) => r.value!.toString()).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `v${i}`).sort());
  });

  it('resets to latest, and the group receives only what is appended afterwards', async () => {
    const topic = await ctx.topic({ partitions: 2 });
    const group = ctx.group();
    await ctx.log().append(
      topic,
      Array.from({ length: 10 }, (_, i) => rec(`key-${i}`, `old${i}`)),
    );
    const offsets = await ctx.log().resetGroup(group, topic, { to: 'latest' });
    expect(offsets).toEqual(await ctx.log().endOffsets(topic));
    await ctx.log().append(topic, [rec('key-1', 'new1'), rec('key-2', 'new2')]);
    const { records } = await consumeUntil(ctx.log(), { group, topics: [topic], fromBeginning: true }, (rs) => rs.length >= 2);
    expect(records.map((r) => r.value!.toString()).sort()).toEqual(['new1', 'new2']);
  });

  it('resets to a timestamp: the first offset at or after it in each partition', async () => {
    const topic = await ctx.topic({ partitions: 2 });
    const group = ctx.group();
    const t0 = Date.now() - 60_000;
    // Increasing timestamps one second apart, two keys that land in different partitions or not.
    await ctx.log().append(
      topic,
      Array.from({ length: 12 }, (_, i) => rec(`key-${i % 3}`, `v${i}`, { timestamp: t0 + i * 1000 })),
    );
    const cut = t0 + 6 * 1000 - 500;
    const offsets = await ctx.log().resetGroup(group, topic, { to: 'timestamp', timestamp: cut });
    const ends = await ctx.log().endOffsets(topic);
    for (const p of [0, 1]) {
      const all = await ctx.log().read(topic, p, '0', ends[p]!);
      const first = all.find((r) => r.timestamp >= cut);
      expect(offsets[p]).toBe(first ? first.offset : ends[p]);
    }
    const { records } = await consumeUntil(ctx.log(), { group, topics: [topic] }, (rs) => rs.length >= 6);
    expect(records.map((r) => r.value!.toString()).sort()).toEqual(['v6', 'v7', 'v8', 'v9', 'v10', 'v11'].sort());
  });

  it('resets to a timestamp after every record to the end offsets', async () => {
    const { topic, group, ends } = await consumedTopic();
    await ctx.log().resetGroup(group, topic, { to: 'earliest' });
    const offsets = await ctx.log().resetGroup(group, topic, { to: 'timestamp', timestamp: Date.now() + 3_600_000 });
    expect(offsets).toEqual(ends);
  });

  it('resets to explicit offsets, and consumption resumes exactly there', async () => {
    const topic = await ctx.topic({ partitions: 1 });
    const group = ctx.group();
    await ctx.log().append(
      topic,
      Array.from({ length: 10 }, (_, i) => rec('k', `v${i}`)),
    );
    const offsets = await ctx.log().resetGroup(group, topic, { to: 'offsets', offsets: { 0: '7' } });
    expect(offsets).toEqual({ 0: '7' });
    expect(await ctx.log().committedOffsets(group, topic)).toEqual({ 0: '7' });
    const { records } = await consumeUntil(ctx.log(), { group, topics: [topic] }, (rs) => rs.length >= 3);
    expect(records.map((r) => r.offset)).toEqual(['7', '8', '9']);
  });

  it('refuses to reset a group while it has a running consumer, and allows it once stopped', async () => {
    const topic = await ctx.topic({ partitions: 1 });
    const group = ctx.group();
    await ctx.log().append(topic, [rec('k', 'a'), rec('k', 'b')]);
    const held = await heldConsumer(ctx.log(), { group, topics: [topic], fromBeginning: true });
    try {
      const refused = await ctx
        .log()
        .resetGroup(group, topic, { to: 'earliest' })
        .then(
          () => undefined,
          (err: unknown) => err as AgentStateError,
        );
      expect(refused?.code).toBe('AS_CONFLICT');
    } finally {
      held.release();
      await held.consumer.stop();
    }
    expect(await ctx.log().resetGroup(group, topic, { to: 'earliest' })).toEqual({ 0: '0' });
  });
}

/** Topic creation: idempotent, and honest about differences. */
export function setupContract(ctx: LogContext): void {
  it('creates topics once, then reports them ok', async () => {
    const a = ctx.topicName();
    const b = ctx.topicName();
    const specs = [
      { name: a, partitions: 3, compacted: false },
      { name: b, partitions: 1, compacted: true },
    ];
    const first = await ctx.log().setup(specs);
    expect(first.map((c) => [c.name, c.status])).toEqual([
      [a, 'created'],
      [b, 'created'],
    ]);
    const second = await ctx.log().setup(specs);
    expect(second).toEqual([
      { name: a, status: 'ok', problems: [] },
      { name: b, status: 'ok', problems: [] },
    ]);
    expect(Object.keys(await ctx.log().endOffsets(a))).toHaveLength(3);
  });

  it('reports a different partition count or cleanup policy as a mismatch and changes nothing', async () => {
    const name = ctx.topicName();
    await ctx.log().setup([{ name, partitions: 2, compacted: false }]);
    await ctx.log().append(name, [rec('k', 'v')]);
    const [partitions] = await ctx.log().setup([{ name, partitions: 4, compacted: false }]);
    expect(partitions!.status).toBe('mismatch');
    expect(partitions!.problems.join(' ')).toMatch(/partition/i);
    const [policy] = await ctx.log().setup([{ name, partitions: 2, compacted: true }]);
    expect(policy!.status).toBe('mismatch');
    expect(policy!.problems.join(' ')).toMatch(/compact/i);
    // Nothing was altered: still 2 partitions, still not compacted, data intact.
    expect(Object.keys(await ctx.log().endOffsets(name))).toHaveLength(2);
    expect((await ctx.log().setup([{ name, partitions: 2, compacted: false }]))[0]!.status).toBe('ok');
    const p = await ctx.log().partitionFor(name, 'k');
    expect((await ctx.log().read(name, p, '0', '1'))[0]!.value!.toString()).toBe('v');
  });
}
