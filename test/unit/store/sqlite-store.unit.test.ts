import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AgentStateError } from '../../../src/errors.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import type { SnapshotRecord } from '../../../src/store/port.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { eventRow, stateRow } from '../../contract/store/suite.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-sqlite-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const freshPath = (): string => join(dir, `store-${++n}.sqlite`);

/** Stores opened by a test, closed after it even when it fails. */
const opened: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const s of opened.splice(0).reverse()) await s.close();
});

async function openStore(path: string): Promise<SqliteStateStore> {
  const store = new SqliteStateStore({ path });
  opened.push(store);
  await store.setup();
  return store;
}

function snapshot(instanceId: string, version: number): SnapshotRecord {
  return {
    snapshotId: `${instanceId}:${version}:full`,
    instanceId,
    version,
    epoch: 2,
    type: 'full',
    baseSnapshotId: null,
    stateChecksum: `sum-${version}`,
    bodyChecksum: `body-${version}`,
    blobKey: `snapshots/${instanceId}/${version}`,
    encoding: { algorithm: 'gzip', originalSize: 500, storedSize: 120 },
    trigger: 'manual',
    creationMs: 3,
    createdBy: 'unit-test',
    stateTimestamp: 1_700_000_000_000 + version,
    createdAt: 1_700_000_100_000,
    expiresAt: 1_800_000_000_000,
    permanent: false,
    critical: true,
  };
}

async function expectCode(p: Promise<unknown>, code: string): Promise<AgentStateError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AgentStateError);
  expect((err as AgentStateError).code).toBe(code);
  return err as AgentStateError;
}

describe('SqliteStateStore on a file', () => {
  it('gives the same states, events, snapshots and counts after the file is reopened', async () => {
    const path = freshPath();
    const first = await openStore(path);
    const body = Buffer.from([0, 255, 1, 254, 0]);
    const state = stateRow('reopen', 3, { body, encoding: { algorithm: 'lz4', originalSize: 40, storedSize: 5 } });
    const events = [1, 2, 3].map((v) => eventRow('reopen', v));
    await first.writeBatch({ states: [state], events });
    await first.putSnapshot(snapshot('reopen', 2));
    const counts = await first.counts();
    await first.close();

    const second = await openStore(path);
    expect(await second.getState('reopen')).toEqual(state);
    expect((await second.getState('reopen'))?.body).toEqual(body);
    expect(await second.queryEvents({ instanceId: 'reopen' })).toEqual(events);
    expect(await second.getSnapshot('reopen:2:full')).toEqual(snapshot('reopen', 2));
    expect(await second.counts()).toEqual(counts);
    expect(counts).toEqual({ agents: 1, events: 3, snapshots: 1, maxVersion: 3 });
    // The guard still holds against what the first instance wrote.
    const r = await second.writeBatch({ states: [stateRow('reopen', 2)], events: [] });
    expect(r).toMatchObject({ statesWritten: 0, statesSkipped: 1 });
  });

  it('keeps offsets above 2^53 exact in states and events', async () => {
    const store = await openStore(freshPath());
    const offsets = ['9007199254740993', '9223372036854775807', '0'];
    for (const [i, offset] of offsets.entries()) {
      const version = i + 1;
      const position = { partition: 7, offset };
      await store.writeBatch({ states: [stateRow('big-offset', version, { position })], events: [{ ...eventRow('big-offset', version), position }] });
      expect((await store.getState('big-offset'))?.position).toEqual(position);
    }
    expect((await store.queryEvents({ instanceId: 'big-offset' })).map((e) => e.position.offset)).toEqual(offsets);
    // 2^53 + 1 is not representable as a number: a lossy path would give ...992.
    expect(Number(offsets[0])).toBe(9007199254740992);
  });

  it('refuses offsets it could not give back exactly, and writes nothing of that batch', async () => {
    const store = await openStore(freshPath());
    for (const offset of ['007', '1.5', '', '9223372036854775808', ' 1', '-0']) {
      const position = { partition: 0, offset };
      await expectCode(store.writeBatch({ states: [], events: [eventRow('bad', 1), { ...eventRow('bad', 2), position }] }), 'AS_INVALID_INPUT');
      await expectCode(store.writeBatch({ states: [stateRow('bad', 1, { position })], events: [] }), 'AS_INVALID_INPUT');
    }
    expect(await store.counts()).toEqual({ agents: 0, events: 0, snapshots: 0, maxVersion: 0 });
  });

  it('rolls a whole batch back when a row is refused inside the transaction', async () => {
    const store = await openStore(freshPath());
    await store.writeBatch({ states: [stateRow('atomic', 1)], events: [eventRow('atomic', 1)] });
    // A fractional epoch passes conversion but the STRICT table refuses it,
    // after the event rows of the same batch were inserted.
    const batch = { states: [stateRow('atomic', 3, { epoch: 1.5 })], events: [eventRow('atomic', 2), eventRow('atomic', 3)] };
    await expectCode(store.writeBatch(batch), 'AS_INVALID_INPUT');
    expect((await store.queryEvents({ instanceId: 'atomic' })).map((e) => e.version)).toEqual([1]);
    expect((await store.getState('atomic'))?.version).toBe(1);
  });

  it('writes only the highest version of an agent within one batch, counting the others as skipped', async () => {
    const store = await openStore(freshPath());
    await store.writeBatch({ states: [stateRow('in-batch', 2)], events: [] });
    const r = await store.writeBatch({ states: [stateRow('in-batch', 3), stateRow('in-batch', 5), stateRow('in-batch', 4)], events: [] });
    expect(r).toMatchObject({ statesWritten: 1, statesSkipped: 2 });
    expect((await store.getState('in-batch'))?.version).toBe(5);
  });

  it('lets a second instance on the same file see committed writes, with the version guard across both', async () => {
    const path = freshPath();
    const a = await openStore(path);
    const b = await openStore(path);
    await a.writeBatch({ states: [stateRow('shared', 5)], events: [eventRow('shared', 5)] });
    expect((await b.getState('shared'))?.version).toBe(5);
    expect((await b.queryEvents({ instanceId: 'shared' })).map((e) => e.version)).toEqual([5]);
    // b writes an older state and a redelivered event: neither changes what a wrote.
    const r = await b.writeBatch({ states: [stateRow('shared', 4)], events: [eventRow('shared', 5)] });
    expect(r).toEqual({ statesWritten: 0, statesSkipped: 1, eventsInserted: 0, eventsExisting: 1 });
    await b.writeBatch({ states: [stateRow('shared', 6)], events: [eventRow('shared', 6)] });
    expect((await a.getState('shared'))?.version).toBe(6);
    await b.putSnapshot(snapshot('shared', 6));
    expect((await a.findSnapshot('shared'))?.version).toBe(6);
    expect(await a.counts()).toEqual(await b.counts());
  });

  it('opens the file in WAL mode, so readers in other processes run beside the writer', async () => {
    const path = freshPath();
    await openStore(path);
    const raw = new Database(path, { readonly: true });
    opened.push(raw);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
  });

  it('shares a file with the SQLite event log without either disturbing the other', async () => {
    const path = freshPath();
    const log = new SqliteEventLog({ path });
    opened.push(log);
    await log.setup([{ name: 'shared.events', partitions: 2, compacted: false }]);
    const store = await openStore(path);
    await store.writeBatch({ states: [stateRow('cohabit', 1)], events: [eventRow('cohabit', 1)] });
    await log.append('shared.events', [{ key: 'cohabit', value: Buffer.from('x') }]);
    const again = new SqliteEventLog({ path });
    opened.push(again);
    expect(
      Object.values(await again.endOffsets('shared.events'))
        .map(Number)
        .reduce((x, y) => x + y, 0),
    ).toBe(1);
    expect((await store.getState('cohabit'))?.version).toBe(1);
  });
});

describe('SqliteStateStore lifecycle', () => {
  it('never closes a database the caller passed in, and is closed itself after close()', async () => {
    const db = new Database(':memory:');
    opened.push(db);
    const store = new SqliteStateStore({ database: db });
    await store.setup();
    await store.writeBatch({ states: [stateRow('owned', 1)], events: [] });
    await store.close();
    await store.close();
    expect(db.open).toBe(true);
    expect(db.prepare('SELECT count(*) AS n FROM agent_states').get()).toEqual({ n: 1 });
    const err = await expectCode(store.getState('owned'), 'AS_CLOSED');
    expect(err.retryable).toBe(false);
  });

  it('closes a file it opened, and close() is safe twice', async () => {
    const path = freshPath();
    const store = new SqliteStateStore({ path });
    await store.setup();
    await store.close();
    await store.close();
    await expectCode(store.counts(), 'AS_CLOSED');
    // The file was released: another instance opens and writes it.
    const other = await openStore(path);
    await other.writeBatch({ states: [stateRow('after-close', 1)], events: [] });
    expect((await other.counts()).agents).toBe(1);
  });

  it('rejects bad options with a ConfigError naming the field', () => {
    const cases: Array<[unknown, string]> = [
      [{}, 'path'],
      [{ path: '' }, 'path'],
      [{ path: ':memory:', busyTimeoutMs: -1 }, 'busyTimeoutMs'],
      [{ path: ':memory:', database: new Database(':memory:') }, 'path'],
    ];
    for (const [options, field] of cases) {
      expect(() => new SqliteStateStore(options as never)).toThrow(expect.objectContaining({ code: 'AS_CONFIG', message: expect.stringContaining(field) }));
    }
    const closed = new Database(':memory:');
    closed.close();
    expect(() => new SqliteStateStore({ database: closed })).toThrow(expect.objectContaining({ code: 'AS_CONFIG', message: expect.stringContaining('database') }));
  });

  it('says to call setup() when the tables are missing', async () => {
    const store = new SqliteStateStore({ path: ':memory:' });
    opened.push(store);
    const err = await expectCode(store.getState('x'), 'AS_UNAVAILABLE');
    expect(err.message).toContain('setup()');
  });

  it('refuses a file written by a newer store schema and leaves it alone', async () => {
    const path = freshPath();
    const raw = new Database(path);
    raw.exec(`CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT; INSERT INTO store_meta VALUES ('schema_version', '99')`);
    raw.close();
    const store = new SqliteStateStore({ path });
    opened.push(store);
    const err = await expectCode(store.setup(), 'AS_CONFIG');
    expect(err.message).toContain('99');
    const check = new Database(path, { readonly: true });
    opened.push(check);
    expect(check.prepare(`SELECT name FROM sqlite_master WHERE name = 'agent_states'`).get()).toBeUndefined();
  });
});
