import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentStateError } from '../../../src/errors.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-sqlite-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = () => join(dir, `log-${++n}.sqlite`);
const rec = (key: string, value: string | null, timestamp?: number) => ({
  key,
  value: value === null ? null : Buffer.from(value),
  ...(timestamp !== undefined ? { timestamp } : {}),
});

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (err: unknown) => (err instanceof AgentStateError ? err.code : String(err)),
  );
}

describe('SqliteEventLog specifics', () => {
  it('keeps records, offsets, headers and group offsets across close and reopen', async () => {
    const path = file();
    const a = new SqliteEventLog({ path });
    await a.setup([{ name: 'events', partitions: 4, compacted: false }]);
    const first = await a.append(
      'events',
      Array.from({ length: 50 }, (_, i) => ({ ...rec(`agent-${i % 7}`, `v${i}`), headers: { i: String(i) } })),
    );
    await a.resetGroup('projector', 'events', { to: 'offsets', offsets: { 1: '3' } });
    const ends = await a.endOffsets('events');
    await a.close();

    const b = new SqliteEventLog({ path });
    expect(await b.setup([{ name: 'events', partitions: 4, compacted: false }])).toEqual([{ name: 'events', status: 'ok', problems: [] }]);
    expect(await b.endOffsets('events')).toEqual(ends);
    expect(await b.committedOffsets('projector', 'events')).toEqual({ 1: '3' });
    const more = await b.append('events', [rec('agent-0', 'after reopen')]);
    const p = more[0]!.partition;
    // Offsets continue where they stopped: no reuse, no gap.
    expect(more[0]!.offset).toBe(ends[p]);
    const all = await b.read('events', p, '0', String(Number(ends[p]) + 1));
    expect(all.slice(0, -1).map((r) => r.value!.toString())).toEqual(first.filter((r) => r.partition === p).map((r) => `v${first.indexOf(r)}`));
    expect(all[0]!.headers).toEqual({ i: String(first.findIndex((r) => r.partition === p)) });
    await b.close();
  });

  it('compacts superseded records, keeping offsets, and drops old tombstones only after the retention', async () => {
    const log = new SqliteEventLog({ path: file(), tombstoneRetentionMs: 60_000 });
    await log.setup([
      { name: 'state', partitions: 1, compacted: true },
      { name: 'history', partitions: 1, compacted: false },
    ]);
    await log.append('state', [rec('a', 'a1'), rec('b', 'b1'), rec('a', 'a2'), rec('c', 'c1'), rec('b', null), rec('a', 'a3')]);
    await log.append('history', [rec('a', 'a1'), rec('a', 'a2')]);

    const first = await log.compact({ now: Date.now() });
    expect(first).toEqual({ superseded: 3, tombstones: 0, expired: 0 });
    const left = await log.read('state', 0, '0', '6');
    expect(left.map((r) => [r.offset, r.key, r.value?.toString() ?? null])).toEqual([
      ['3', 'c', 'c1'],
      ['4', 'b', null],
      ['5', 'a', 'a3'],
    ]);
    // Offsets and the log start do not move; a non-compacted topic is untouched.
    expect(await log.endOffsets('state')).toEqual({ 0: '6' });
    expect(await log.startOffsets('state')).toEqual({ 0: '0' });
    expect(await log.read('history', 0, '0', '2')).toHaveLength(2);

    // The tombstone goes once it has been the latest for longer than the retention.
    expect((await log.compact({ now: Date.now() + 30_000 })).tombstones).toBe(0);
    expect((await log.compact({ now: Date.now() + 61_000 })).tombstones).toBe(1);
    expect((await log.read('state', 0, '0', '6')).map((r) => r.key)).toEqual(['c', 'a']);

    // New appends still get fresh offsets after compaction removed the head.
    expect((await log.append('state', [rec('d', 'd1')]))[0]!.offset).toBe('6');
    await log.close();
  });

  it('a consumer skips offsets that compaction removed', async () => {
    const log = new SqliteEventLog({ path: file() });
    await log.setup([{ name: 'state', partitions: 1, compacted: true }]);
    await log.append('state', [rec('a', '1'), rec('a', '2'), rec('a', '3')]);
    await log.compact();
    const got: string[] = [];
    const consumer = await log.consume({
      group: 'g',
      topics: ['state'],
      handler: async (batch) => {
        got.push(...batch.records.map((r) => r.offset));
      },
    });
    await expect.poll(() => got).toEqual(['2']);
    await consumer.stop();
    expect(await log.committedOffsets('g', 'state')).toEqual({ 0: '3' });
    await log.close();
  });

  it('applies time retention as a prefix and moves the log start', async () => {
    const log = new SqliteEventLog({ path: file() });
    await log.setup([{ name: 'short', partitions: 1, compacted: false, retentionMs: 10_000 }]);
    const now = Date.now();
    await log.append('short', [rec('k', 'old', now - 60_000), rec('k', 'old2', now - 20_000), rec('k', 'new', now - 1000)]);
    expect((await log.compact({ now })).expired).toBe(2);
    expect(await log.startOffsets('short')).toEqual({ 0: '2' });
    expect(await log.endOffsets('short')).toEqual({ 0: '3' });
    expect((await log.read('short', 0, '0', '3')).map((r) => r.value!.toString())).toEqual(['new']);
    await log.close();
  });

  it('keeps 64-bit offsets exact (beyond 2^53)', async () => {
    const log = new SqliteEventLog({ path: ':memory:' });
    await log.setup([{ name: 't', partitions: 1, compacted: false }]);
    const big = '9007199254740993'; // 2^53 + 1: not representable as a JS number
    expect(await log.resetGroup('g', 't', { to: 'offsets', offsets: { 0: big } })).toEqual({ 0: big });
    expect(await log.committedOffsets('g', 't')).toEqual({ 0: big });
    expect(await codeOf(log.resetGroup('g', 't', { to: 'offsets', offsets: { 0: '9223372036854775808' } }))).toBe('AS_INVALID_INPUT');
    expect(await codeOf(log.resetGroup('g', 't', { to: 'offsets', offsets: { 0: '-1' } }))).toBe('AS_INVALID_INPUT');
    expect(await codeOf(log.resetGroup('g', 't', { to: 'offsets', offsets: { 5: '1' } }))).toBe('AS_NOT_FOUND');
    await log.close();
  });

  it('sees a consumer of another instance on the same file as an active member', async () => {
    const path = file();
    const a = new SqliteEventLog({ path });
    const b = new SqliteEventLog({ path });
    await a.setup([{ name: 't', partitions: 1, compacted: false }]);
    const consumer = await a.consume({ group: 'g', topics: ['t'], handler: async () => undefined });
    expect(await codeOf(b.resetGroup('g', 't', { to: 'earliest' }))).toBe('AS_CONFLICT');
    // One member per group: a second consumer is refused, in either instance.
    expect(await codeOf(b.consume({ group: 'g', topics: ['t'], handler: async () => undefined }))).toBe('AS_CONFLICT');
    expect(await codeOf(a.consume({ group: 'g', topics: ['t'], handler: async () => undefined }))).toBe('AS_CONFLICT');
    await consumer.stop();
    expect(await b.resetGroup('g', 't', { to: 'earliest' })).toEqual({ 0: '0' });
    await a.close();
    await b.close();
  });

  it('delivers records appended by another instance on the same file', async () => {
    const path = file();
    const a = new SqliteEventLog({ path, pollIntervalMs: 20 });
    const b = new SqliteEventLog({ path });
    await a.setup([{ name: 't', partitions: 2, compacted: false }]);
    const got: string[] = [];
    const consumer = await a.consume({
      group: 'g',
      topics: ['t'],
      handler: async (batch) => {
        got.push(...batch.records.map((r) => r.value!.toString()));
      },
    });
    await b.append('t', [rec('x', '1'), rec('y', '2')]);
    await expect.poll(() => [...got].sort()).toEqual(['1', '2']);
    await consumer.stop();
    await a.close();
    await b.close();
  });

  it('starts a group without commits at the end when fromBeginning is false', async () => {
    const log = new SqliteEventLog({ path: ':memory:' });
    await log.setup([{ name: 't', partitions: 1, compacted: false }]);
    await log.append('t', [rec('k', 'before')]);
    const got: string[] = [];
    const consumer = await log.consume({
      group: 'g',
      topics: ['t'],
      fromBeginning: false,
      handler: async (batch) => {
        got.push(...batch.records.map((r) => r.value!.toString()));
      },
    });
    await log.append('t', [rec('k', 'after')]);
    await expect.poll(() => got).toEqual(['after']);
    await consumer.stop();
    await log.close();
  });

  it('rejects bad options, unknown topics and use after close with typed errors', async () => {
    expect(() => new SqliteEventLog({ path: '' })).toThrow(/path/);
    expect(() => new SqliteEventLog({ path: ':memory:', pollIntervalMs: -1 })).toThrow(/pollIntervalMs/);
    const log = new SqliteEventLog({ path: ':memory:' });
    expect(await codeOf(log.append('missing', [rec('k', 'v')]))).toBe('AS_NOT_FOUND');
    expect(await codeOf(log.setup([{ name: 'bad name!', partitions: 1, compacted: false }]))).toBe('AS_INVALID_INPUT');
    expect(await codeOf(log.setup([{ name: 'ok', partitions: 0, compacted: false }]))).toBe('AS_INVALID_INPUT');
    await log.close();
    expect(await codeOf(log.endOffsets('ok'))).toBe('AS_CLOSED');
  });

  it('close() stops running consumers and waits for the batch in hand to commit', async () => {
    const log = new SqliteEventLog({ path: ':memory:' });
    await log.setup([{ name: 't', partitions: 1, compacted: false }]);
    await log.append('t', [rec('k', 'v')]);
    let finished = false;
    const consumer = await log.consume({
      group: 'g',
      topics: ['t'],
      handler: async () => {
        await new Promise((r) => setTimeout(r, 50));
        finished = true;
      },
    });
    await expect.poll(() => finished).toBe(true);
    await log.close();
    await expect(consumer.done).resolves.toBeUndefined();
  });
});
