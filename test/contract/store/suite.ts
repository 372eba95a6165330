import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../src/domain/index.js';
import { AgentStateError } from '../../../src/errors.js';
import type { SnapshotRecord, StateStore, StoredEvent, StoredState } from '../../../src/store/port.js';
import type { StateFields } from '../../../src/store/state-fields.js';

/** A state row at `version` with a recognisable body. */
export function stateRow(instanceId: string, version: number, extra: Partial<StoredState> = {}): StoredState {
  const body = Buffer.from(JSON.stringify({ instanceId, v: version }), 'utf8');
  return {
    instanceId,
    version,
    epoch: 1,
    checksum: `sum-${version}`,
    agentType: 'worker',
    status: 'running',
    fields: { status: 'running', agentType: 'worker', capabilities: ['chat'], performance: { errorRate: 0 } },
    modifiedBy: 'contract-test',
    encoding: { algorithm: 'none', originalSize: body.length, storedSize: body.length },
    body,
    blobKey: null,
    position: { partition: 2, offset: String(1000n + BigInt(version)) },
    lastEventId: `${instanceId}-e${version}`,
    lastEventType: 'state_patched',
    updatedAt: 1_700_000_000_000 + version * 1000,
    createdAt: 1_700_000_000_000,
    ...extra,
  };
}

/** An event row at `version`, timestamp 1000 ms apart. */
export function eventRow(instanceId: string, version: number, eventType = 'state_patched'): StoredEvent {
  return {
    instanceId,
    version,
    epoch: 1,
    eventId: `${instanceId}-e${version}`,
    eventType,
    timestamp: 1_700_000_000_000 + version * 1000,
    stateChecksum: `sum-${version}`,
    position: { partition: 2, offset: String(1000n + BigInt(version)) },
    body: Buffer.from(`{"version":${version}}`, 'utf8'),
  };
}

function snapshot(instanceId: string, version: number, extra: Partial<SnapshotRecord> = {}): SnapshotRecord {
  const type = extra.type ?? 'full';
  return {
    snapshotId: `${instanceId}:${version}:${type}`,
    instanceId,
    version,
    epoch: 1,
    type,
    baseSnapshotId: null,
    stateChecksum: `sum-${version}`,
    bodyChecksum: `body-${version}`,
    blobKey: `snapshots/${instanceId}/${version}`,
    encoding: { algorithm: 'lz4', originalSize: 100, storedSize: 60 },
    trigger: 'policy:events',
    creationMs: 12,
    createdBy: 'contract-test',
    stateTimestamp: 1_700_000_000_000 + version * 1000,
    createdAt: 1_800_000_000_000,
    expiresAt: null,
    permanent: false,
    critical: false,
    ...extra,
  };
}

/**
 * The StateStore conformance suite (STYLE.md habit 2): every adapter (MongoDB,
 * SQLite) runs it. `make` returns a store on fresh, empty storage; `setup()`
 * is called by the suite. Each test uses its own agent ids.
 */
export function storeContract(
  name: string,
  make: () => Promise<{ store: StateStore; cleanup?: () => Promise<void> }>,
  /** Openings with bad options: each must fail with AS_CONFIG naming the field. */
  badOptions: ReadonlyArray<{ field: string; open: () => Promise<unknown> }> = [],
): void {
  describe(`StateStore contract: ${name}`, () => {
    let store: StateStore;
    let cleanup: (() => Promise<void>) | undefined;
    const id = (label: string): string => `${label}-${randomBytes(3).toString('hex')}`;

    beforeAll(async () => {
      ({ store, cleanup } = await make());
      await store.setup();
      await store.setup(); // idempotent
    });
    afterAll(async () => {
      await store.close();
      await store.close(); // safe twice
      await cleanup?.();
    });

    it('round-trips a state row with its body bytes, encoding and log position', async () => {
      const a = id('rt');
      const row = stateRow(a, 3, { body: Buffer.from([0, 1, 2, 255]), encoding: { algorithm: 'lz4', originalSize: 10, storedSize: 4 } });
      const r = await store.writeBatch({ states: [row], events: [] });
      expect(r.statesWritten).toBe(1);
      expect(await store.getState(a)).toEqual(row);
      expect((await store.getStates([a, id('absent')])).get(a)).toEqual(row);
      expect(await store.getState(id('absent'))).toBeUndefined();
      const claim = stateRow(id('big'), 1, { body: null, blobKey: 'states/big/abc' });
      await store.writeBatch({ states: [claim], events: [] });
      expect(await store.getState(claim.instanceId)).toEqual(claim);
    });

    it('guards state writes by version: an older or equal version never replaces a newer one (Invariant 4)', async () => {
      const a = id('guard');
      const b = id('guard');
      await store.writeBatch({ states: [stateRow(a, 5), stateRow(b, 1)], events: [] });
      const r = await store.writeBatch({ states: [stateRow(a, 4), stateRow(a, 5, { checksum: 'other' }), stateRow(b, 2)], events: [] });
      expect(r).toMatchObject({ statesWritten: 1, statesSkipped: 2 });
      expect((await store.getState(a))?.checksum).toBe('sum-5');
      expect((await store.getState(b))?.version).toBe(2);
    });

    it('mirrors events idempotently and answers version, time and type queries', async () => {
      const a = id('ev');
      const events = Array.from({ length: 10 }, (_, i) => eventRow(a, i + 1, i % 3 === 0 ? 'task_started' : 'state_patched'));
      const first = await store.writeBatch({ states: [stateRow(a, 10)], events });
      expect(first.eventsInserted).toBe(10);
      // A redelivered batch overlapping the first: nothing is duplicated.
      const again = await store.writeBatch({ states: [stateRow(a, 10)], events: events.slice(5) });
      expect(again).toMatchObject({ eventsInserted: 0, eventsExisting: 5, statesWritten: 0, statesSkipped: 1 });
      // Held and new events interleaved (FerretDB stops an unordered insert at its first duplicate): every new one lands.
      const b = id('ev');
      const bEvents = Array.from({ length: 8 }, (_, i) => eventRow(b, i + 1));
      await store.writeBatch({ states: [], events: [bEvents[1]!, bEvents[4]!, bEvents[5]!] });
      expect(await store.writeBatch({ states: [], events: bEvents })).toMatchObject({ eventsInserted: 5, eventsExisting: 3 });
      expect((await store.queryEvents({ instanceId: b })).map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      const all = await store.queryEvents({ instanceId: a });
      expect(all.map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(all[0]).toEqual(events[0]);
      expect((await store.queryEvents({ instanceId: a, fromVersion: 3, toVersion: 5 })).map((e) => e.version)).toEqual([3, 4, 5]);
      const t = (v: number): number => 1_700_000_000_000 + v * 1000;
      expect((await store.queryEvents({ instanceId: a, fromTime: t(8), toTime: t(20) })).map((e) => e.version)).toEqual([8, 9, 10]);
      expect((await store.queryEvents({ instanceId: a, eventTypes: ['task_started'] })).map((e) => e.version)).toEqual([1, 4, 7, 10]);
      expect((await store.queryEvents({ instanceId: a, order: 'desc', limit: 2 })).map((e) => e.version)).toEqual([10, 9]);
      expect(await store.queryEvents({ instanceId: id('none') })).toEqual([]);
      expect(await store.deleteEvents(a, 4)).toBe(3);
      expect((await store.queryEvents({ instanceId: a })).map((e) => e.version)).toEqual([4, 5, 6, 7, 8, 9, 10]);
    });

    it('stores snapshot metadata idempotently and finds the nearest one at or before a version or time', async () => {
      const a = id('snap');
      await store.putSnapshot(snapshot(a, 10));
      await store.putSnapshot(snapshot(a, 10)); // retried: same record
      await store.putSnapshot(snapshot(a, 20, { type: 'incremental', baseSnapshotId: `${a}:10:full` }));
      await store.putSnapshot(snapshot(a, 30, { type: 'checkpoint' }));
      expect((await store.listSnapshots(a)).map((s) => s.version)).toEqual([30, 20, 10]);
      expect(await store.getSnapshot(`${a}:20:incremental`)).toEqual(snapshot(a, 20, { type: 'incremental', baseSnapshotId: `${a}:10:full` }));
      expect((await store.findSnapshot(a))?.version).toBe(30);
      expect((await store.findSnapshot(a, { atOrBeforeVersion: 29 }))?.version).toBe(20);
      expect((await store.findSnapshot(a, { atOrBeforeVersion: 29, types: ['full'] }))?.version).toBe(10);
      expect((await store.findSnapshot(a, { atOrBeforeTime: 1_700_000_000_000 + 15_000 }))?.version).toBe(10);
      expect(await store.findSnapshot(a, { atOrBeforeVersion: 9 })).toBeUndefined();
      expect(await store.getSnapshot('nope')).toBeUndefined();
    });

    it('lists expired snapshots except permanent and critical ones, and deletes them', async () => {
      const a = id('ret');
      const now = 2_000_000_000_000;
      await store.putSnapshot(snapshot(a, 1, { expiresAt: now - 10 }));
      await store.putSnapshot(snapshot(a, 2, { expiresAt: now - 5, permanent: true }));
      await store.putSnapshot(snapshot(a, 3, { expiresAt: now - 5, critical: true }));
      await store.putSnapshot(snapshot(a, 4, { expiresAt: now + 1000 }));
      await store.putSnapshot(snapshot(a, 5));
      const expired = (await store.expiredSnapshots(now)).filter((s) => s.instanceId === a);
      expect(expired.map((s) => s.version)).toEqual([1]);
      expect(await store.deleteSnapshots(expired.map((s) => s.snapshotId))).toBe(1);
      expect((await store.listSnapshots(a)).map((s) => s.version)).toEqual([5, 4, 3, 2]);
    });

    it('keeps every field key and value exactly: $, dots, empty, __proto__, NUL and lone surrogates in keys', async () => {
      const a = id('keys');
      const weird: Record<string, unknown> = JSON.parse('{"$set":1,"a.b":{"c.d":[{"$x":"y"}]},"":"empty","%":"pct","%25":"pct25","__proto__":{"p":1},"k\\u0000z":true,"\\ud800":"lone","\\udc00x":"low","😀":"pair"}');
      const fields = {
        status: 'error',
        agentType: 'worker',
        configuration: weird,
        capabilities: ['web-search', 'code'],
        resourceAllocation: { cpuCores: 2, memoryMb: 512, gpuCount: 1, big: 2 ** 53 - 1, tiny: 1e-300, neg: -7.25 },
        performance: { errorRate: 0.25, nested: { deep: [[1, [2, [3]]], null, false, ''] } },
        executionState: { currentTask: { taskId: 'T-9' }, taskHistory: [], memoryUsage: {}, processState: {}, communicationState: {} },
      } as unknown as StateFields;
      const row = stateRow(a, 1, { status: 'error', fields });
      await store.writeBatch({ states: [row], events: [] });
      const got = await store.getState(a);
      expect(got).toEqual(row);
      expect(canonicalJson(got?.fields)).toBe(canonicalJson(fields)); // byte for byte, lone surrogates and NUL included
      expect(Object.getPrototypeOf(got?.fields.configuration)).toBe(Object.prototype);
    });

    it('queries agents by status, capability, agent type and time, a page at a time', async () => {
      const type = id('qtype');
      const mk = (n: number, status: string, caps: string[]): StoredState =>
        stateRow(`${type}-${n}`, 1, {
          agentType: type,
          status,
          fields: { status, agentType: type, capabilities: caps },
          updatedAt: 1_700_000_000_000 + n * 1000,
        });
      const rows = [mk(1, 'error', ['web-search']), mk(2, 'running', ['web-search', 'code']), mk(3, 'error', []), mk(4, 'idle', ['code'])];
      await store.writeBatch({ states: rows, events: [] });
      const ids = async (f: Parameters<StateStore['query']>[0]): Promise<string[]> => (await store.query({ agentType: type, ...f })).agents.map((x) => x.instanceId);
      expect(await ids({ status: 'error' })).toEqual([`${type}-1`, `${type}-3`]);
      expect(await ids({ capability: 'web-search' })).toEqual([`${type}-1`, `${type}-2`]);
      expect(await ids({ capability: 'code', status: 'idle' })).toEqual([`${type}-4`]);
      expect(await ids({ updatedSince: 1_700_000_000_000 + 3000 })).toEqual([`${type}-3`, `${type}-4`]);
      expect(await ids({ status: 'nope' })).toEqual([]);
      const first = await store.query({ agentType: type, limit: 3 });
      expect(first.agents.map((x) => x.instanceId)).toEqual([`${type}-1`, `${type}-2`, `${type}-3`]);
      expect(first.agents[1]).toEqual({
        instanceId: `${type}-2`,
        version: 1,
        epoch: 1,
        checksum: 'sum-1',
        agentType: type,
        status: 'running',
        capabilities: ['web-search', 'code'],
        lastEventType: 'state_patched',
        updatedAt: 1_700_000_002_000,
        createdAt: 1_700_000_000_000,
      });
      expect(first.nextCursor).toEqual(expect.any(String));
      const second = await store.query({ agentType: type, limit: 3, cursor: first.nextCursor! });
      expect(second.agents.map((x) => x.instanceId)).toEqual([`${type}-4`]);
      expect(second.nextCursor).toBeNull();
      for (const bad of [{ limit: 0 }, { limit: 1001 }, { limit: 1.5 }, { cursor: 'not a cursor!' }, { status: '' }]) {
        const err = await store.query(bad).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(AgentStateError);
        expect((err as AgentStateError).code).toBe('AS_INVALID_INPUT');
      }
    });

    it('pages agents in id order, deletes a state, and counts rows', async () => {
      const base = id('page');
      const ids = ['c', 'a', 'b', 'd'].map((s) => `${base}-${s}`);
      const before = await store.counts();
      // One agent ahead of every other: counts() reports the highest version.
      const top = before.maxVersion + 5;
      await store.writeBatch({ states: ids.map((x, i) => stateRow(x, i === 3 ? top : 1)), events: ids.map((x) => eventRow(x, 1)) });
      await store.putSnapshot(snapshot(ids[0]!, 1));
      const after = await store.counts();
      expect(after.maxVersion).toBe(top);
      expect(after.agents - before.agents).toBe(4);
      expect(after.events - before.events).toBe(4);
      expect(after.snapshots - before.snapshots).toBe(1);
      const all: string[] = [];
      let afterId: string | undefined;
      for (;;) {
        const page = await store.listAgents({ limit: 2, ...(afterId === undefined ? {} : { afterId }) });
        if (page.length === 0) break;
        all.push(...page);
        afterId = page.at(-1);
      }
      const mine = all.filter((x) => x.startsWith(base));
      expect(mine).toEqual([...ids].sort());
      expect(all).toEqual([...all].sort());
      expect(await store.deleteState(ids[1]!)).toBe(true);
      expect(await store.deleteState(ids[1]!)).toBe(false);
      expect(await store.getState(ids[1]!)).toBeUndefined();
    });

    // Error cases (issue 13): the same answer on every adapter.
    it('answers unknown agents and snapshots as absent, and their deletes as nothing done', async () => {
      const missing = id('missing');
      expect(await store.getState(missing)).toBeUndefined();
      expect((await store.getStates([missing])).size).toBe(0);
      expect(await store.getStates([])).toEqual(new Map());
      expect(await store.deleteState(missing)).toBe(false);
      expect(await store.queryEvents({ instanceId: missing })).toEqual([]);
      expect(await store.deleteEvents(missing, 10)).toBe(0);
      expect(await store.getSnapshot(`${missing}:1:full`)).toBeUndefined();
      expect(await store.findSnapshot(missing)).toBeUndefined();
      expect(await store.listSnapshots(missing)).toEqual([]);
      expect(await store.deleteSnapshots([`${missing}:1:full`])).toBe(0);
      expect(await store.deleteSnapshots([])).toBe(0);
    });

    it('refuses a bad limit with AS_INVALID_INPUT on every listing', async () => {
      const a = id('limit');
      for (const limit of [-1, 1.5, Number.NaN]) {
        await expect(store.listAgents({ limit }), `listAgents limit ${limit}`).rejects.toMatchObject({ code: 'AS_INVALID_INPUT' });
        await expect(store.queryEvents({ instanceId: a, limit }), `queryEvents limit ${limit}`).rejects.toMatchObject({ code: 'AS_INVALID_INPUT' });
        await expect(store.expiredSnapshots(Date.now(), limit), `expiredSnapshots limit ${limit}`).rejects.toMatchObject({ code: 'AS_INVALID_INPUT' });
      }
    });

    it('answers use after close with AS_CLOSED, not retryable, and writes nothing', async () => {
      const opened = await make();
      try {
        await opened.store.setup();
        await opened.store.close();
        const a = id('closed');
        const closed = { code: 'AS_CLOSED', retryable: false };
        await expect(opened.store.writeBatch({ states: [stateRow(a, 1)], events: [eventRow(a, 1)] })).rejects.toMatchObject(closed);
        await expect(opened.store.getState(a)).rejects.toMatchObject(closed);
        await expect(opened.store.query()).rejects.toMatchObject(closed);
        await expect(opened.store.listAgents()).rejects.toMatchObject(closed);
        await expect(opened.store.putSnapshot(snapshot(a, 1))).rejects.toMatchObject(closed);
        await expect(opened.store.counts()).rejects.toMatchObject(closed);
        await opened.store.close(); // still safe
      } finally {
        await opened.cleanup?.();
      }
    });

    if (badOptions.length > 0) {
      it('refuses bad options with AS_CONFIG naming the field', async () => {
        for (const { field, open } of badOptions) {
          const err = await Promise.resolve()
            .then(open)
            .then(
              () => undefined,
              (e: unknown) => e,
            );
          expect(err, field).toMatchObject({ code: 'AS_CONFIG' });
          expect((err as Error).message, field).toContain(field);
        }
      });
    }

    // Last: it clears the whole store (issue 12 §3).
    it('binds to a log, reports the highest position per partition, and clears the projection for a rebuild', async () => {
      expect(await store.getLogBinding()).toBeUndefined();
      const binding = { logId: 'sqlite:0f6e', topic: 'agentstate.events', boundAt: 1_700_000_000_000 };
      await store.setLogBinding(binding);
      expect(await store.getLogBinding()).toEqual(binding);
      const a = id('pos');
      // Offsets past 2^53 and across partitions: compared as numbers, not text ("9" > "10" as text).
      await store.writeBatch({
        states: [
          stateRow(a, 1, { position: { partition: 0, offset: '9' } }),
          stateRow(`${a}-b`, 1, { position: { partition: 0, offset: '10' } }),
          stateRow(`${a}-c`, 1, { position: { partition: 5, offset: '9007199254740993' } }),
        ],
        events: [eventRow(a, 1)],
      });
      const high = await store.highestPositions();
      expect(high[0]).toBe('10');
      expect(high[5]).toBe('9007199254740993');
      const removed = await store.clearProjection();
      expect(removed).toEqual(expect.arrayContaining([a, `${a}-b`, `${a}-c`]));
      expect(await store.counts()).toMatchObject({ agents: 0, events: 0, snapshots: 0 });
      expect(await store.highestPositions()).toEqual({});
      expect(await store.getLogBinding()).toBeUndefined();
    });
  });
}
