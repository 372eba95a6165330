import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { JsonEventCodec } from '../../../src/codec/event-codec.js';
import { generateEvents } from '../../../src/corpus/index.js';
import { fold, type JsonObject, type StateEvent } from '../../../src/domain/index.js';
import { NotFoundError } from '../../../src/errors.js';
import { StateManager } from '../../../src/manager/index.js';
import { MongoStore, type MongoStoreOptions } from '../../../src/store/mongo/index.js';
import { storedEvent } from '../../../src/store/stored-event.js';
import type { EventQuery, SnapshotQuery, StoredEvent } from '../../../src/store/port.js';
import { stackEnv, uniqueName } from '../../support/env.js';

const codec = new JsonEventCodec();

/** The mirror row the projector writes for an accepted event (sinks.ts). */
async function mirrorRow(event: StateEvent, offset: number): Promise<StoredEvent> {
  return storedEvent(event, { partition: 1, offset: String(offset) }, await codec.encode(event), { parsed: event as unknown as JsonObject });
}

/**
 * `StateManager.replayEvents` and history reads over the MongoDB store, on
 * whatever MongoDB-wire server the stack runs; on FerretDB/PostgreSQL twice:
 * reading PostgreSQL's tables directly (the default with
 * `ferretdbPostgresUrl`) and through FerretDB's commands. Every step is
 * verified and the results must not depend on the read path.
 */
function replaySuite(name: string, options: Pick<MongoStoreOptions, 'ferretdbPostgresUrl' | 'directReads'>, path: 'postgres' | 'ferretdb'): void {
  describe(`StateManager.replayEvents over MongoStore: ${name}`, () => {
    const env = stackEnv();
    const database = uniqueName('replay').replace(/[^A-Za-z0-9_]/g, '_');
    const dir = mkdtempSync(join(tmpdir(), 'agentstate-replay-'));
    let store: MongoStore;
    let manager: StateManager;
    let every20: StateManager;
    const events = generateEvents(71, 60, 8 * 1024);
    const id = events[0]!.instanceId;
    const other = generateEvents(72, 12, 4 * 1024);
    const otherId = other[0]!.instanceId;

    beforeAll(async () => {
      store = await MongoStore.connect({ uri: env.mongodbUri, database, ...options });
      await store.setup();
      const blobs = new FsBlobStore({ dir });
      manager = new StateManager({ store, blobs });
      const rows = await Promise.all(events.map((e, i) => mirrorRow(e, i)));
      // The second agent's last row records a checksum its event does not reach (a mirror row altered after the fact).
      const otherRows = await Promise.all(other.map((e, i) => mirrorRow(e, 100 + i)));
      otherRows[11] = { ...otherRows[11]!, stateChecksum: '0'.repeat(64) };
      await store.writeBatch({ states: [], events: [...rows, ...otherRows] });
      // A full snapshot at 40 and a checkpoint at 45 (off any policy's multiples).
      for (const [version, type] of [
        [40, 'full'],
        [45, 'checkpoint'],
      ] as const) {
        const at = fold(events.slice(0, version)).projection!;
        await manager.snapshotter.take({ instanceId: id, version, epoch: at.epoch, state: at.state, checksum: at.checksum, stateTimestamp: events[version - 1]!.timestamp, type, trigger: 'manual' });
      }
      // A policy of a snapshot every 20 events: replays read from where it puts them (20, 40, 60), which is right at 40, too late at 45 and missing at 20 and 60.
      every20 = new StateManager({ store, blobs, snapshots: { everyEvents: 20 } });
    });
    afterAll(async () => {
      await store?.connection.db.dropDatabase().catch(() => undefined);
      await store?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it(`reads on the ${path} path`, async () => {
      expect(await store.eventReadPath()).toBe(path);
    });

    it('replays a whole history and ranges around snapshots, every step verified against the recorded checksum', async () => {
      for (const [from, to, m] of [
        [1, 19, manager],
        [1, 39, manager],
        [1, 40, manager], // the snapshot sits at `to`: the recorded checksum is the row of the snapshot's own version
        [41, 44, manager],
        [1, 45, manager],
        [41, 55, manager],
        [1, 60, manager],
        [1, 19, every20],
        [1, 20, every20], // no snapshot where the policy puts one: the whole history in a second read
        [1, 39, every20],
        [1, 40, every20],
        [41, 44, every20],
        [1, 45, every20], // a snapshot later than the policy's
        [41, 59, every20],
        [1, 60, every20], // the policy's is missing, the checkpoint at 45 is the base
      ] as const) {
        const want = fold(events.slice(0, to)).projection!;
        const r = await m.replayEvents(id, from, to);
        expect({ v: r.finalVersion, c: r.checksum, verified: r.verified, errors: r.errors, state: r.finalState }, `${from}..${to} ${m === every20 ? 'every 20' : ''}`).toEqual({
          v: to,
          c: events[to - 1]!.stateChecksum,
          verified: true,
          errors: [],
          state: want.state,
        });
        expect(r.eventsReplayed).toBe(to - from + 1);
      }
    });

    it('reports a replay whose result differs from the checksum the mirror records as not verified', async () => {
      const r = await manager.replayEvents(otherId, 1, 12);
      expect(r.checksum).toBe(other[11]!.stateChecksum);
      expect([r.verified, r.errors]).toEqual([false, []]);
      expect((await manager.replayEvents(otherId, 1, 11)).verified).toBe(true);
    });

    it('refuses a version the agent never reached, naming how far its history reaches', async () => {
      const err = await manager.replayEvents(id, 1, 61).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotFoundError);
      expect((err as Error).message).toContain('history reaches 60');
      await expect(manager.replayEvents('nobody', 1, 1)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('answers version and event history by version, time and type, in either order', async () => {
      expect((await manager.getVersionHistory(id, { fromVersion: 58 })).map((v) => [v.version, v.stateChecksum])).toEqual(events.slice(57).map((e) => [e.version, e.stateChecksum]));
      expect(await manager.getEventHistory(id, { fromVersion: 10, toVersion: 12 })).toEqual(events.slice(9, 12));
      expect(await manager.getEventHistory(id, { fromTime: events[20]!.timestamp, toTime: events[22]!.timestamp })).toEqual(
        events.filter((e) => e.timestamp >= events[20]!.timestamp && e.timestamp <= events[22]!.timestamp),
      );
      const types = [events[0]!.eventType];
      expect(await manager.getEventHistory(id, { eventTypes: types })).toEqual(events.filter((e) => types.includes(e.eventType)));
      expect((await manager.getEventHistory(id, { order: 'desc', limit: 3 })).map((e) => e.version)).toEqual([60, 59, 58]);
    });
  });
}

replaySuite('on the stack server, through its commands', {}, 'ferretdb');

const postgres = stackEnv().ferretdbPostgresUrl;
if (postgres !== undefined) {
  replaySuite('FerretDB/PostgreSQL, reading its tables directly', { ferretdbPostgresUrl: postgres }, 'postgres');
  replaySuite('FerretDB/PostgreSQL with directReads off', { ferretdbPostgresUrl: postgres, directReads: false }, 'ferretdb');

  describe('MongoStore on FerretDB/PostgreSQL: direct reads equal reads through FerretDB', () => {
    const env = stackEnv();
    const database = uniqueName('reads').replace(/[^A-Za-z0-9_]/g, '_');
    let direct: MongoStore;
    let viaFerretdb: MongoStore;
    const events = generateEvents(73, 40, 4 * 1024);
    const id = events[0]!.instanceId;

    beforeAll(async () => {
      direct = await MongoStore.connect({ uri: env.mongodbUri, database, ferretdbPostgresUrl: postgres });
      await direct.setup();
      viaFerretdb = await MongoStore.connect({ uri: env.mongodbUri, database, ferretdbPostgresUrl: postgres, directReads: false, directInserts: false });
      // Half the rows written by each path, so both document forms are read back.
      const rows = await Promise.all(events.map((e, i) => mirrorRow(e, i)));
      await direct.writeBatch({ states: [], events: rows.filter((r) => r.version % 2 === 0) });
      await viaFerretdb.writeBatch({ states: [], events: rows.filter((r) => r.version % 2 === 1) });
      for (const [version, type] of [
        [10, 'full'],
        [20, 'incremental'],
        [30, 'checkpoint'],
      ] as const) {
        await direct.putSnapshot({
          snapshotId: `${id}:${version}:${type}`,
          instanceId: id,
          version,
          epoch: 1,
          type,
          baseSnapshotId: type === 'incremental' ? `${id}:10:full` : null,
          stateChecksum: events[version - 1]!.stateChecksum,
          bodyChecksum: 'b'.repeat(64),
          blobKey: `snapshots/${id}/${version}`,
          encoding: { algorithm: 'gzip', originalSize: 1000 + version, storedSize: 300 + version },
          trigger: 'policy:events',
          creationMs: 3,
          createdBy: 'reads-test',
          stateTimestamp: events[version - 1]!.timestamp,
          createdAt: 1_800_000_000_000 + version,
          expiresAt: version === 20 ? 1_900_000_000_000 : null,
          permanent: version === 30,
          critical: false,
        });
      }
    });
    afterAll(async () => {
      await direct?.connection.db.dropDatabase().catch(() => undefined);
      await direct?.close();
      await viaFerretdb?.close();
    });

    it('reads mirror rows with the same fields, bytes, order and limits', async () => {
      expect([await direct.eventReadPath(), await viaFerretdb.eventReadPath()]).toEqual(['postgres', 'ferretdb']);
      const t = (v: number): number => events[v - 1]!.timestamp;
      const queries: EventQuery[] = [
        { instanceId: id },
        { instanceId: id, fromVersion: 5, toVersion: 9 },
        { instanceId: id, fromVersion: 39 },
        { instanceId: id, toVersion: 3, order: 'desc' },
        { instanceId: id, order: 'desc', limit: 4 },
        { instanceId: id, fromTime: t(12), toTime: t(15) },
        { instanceId: id, toTime: t(30), order: 'desc', limit: 1 },
        { instanceId: id, eventTypes: [events[0]!.eventType, events[1]!.eventType], limit: 7 },
        { instanceId: id, eventTypes: [] },
        { instanceId: id, fromVersion: 41 },
        { instanceId: 'nobody' },
      ];
      for (const q of queries) {
        const [a, b] = await Promise.all([direct.queryEvents(q), viaFerretdb.queryEvents(q)]);
        expect(a, JSON.stringify(q)).toEqual(b);
      }
      const all = await direct.queryEvents({ instanceId: id });
      expect(all.map((r) => r.body.toString('utf8'))).toEqual(await Promise.all(events.map(async (e) => (await codec.encode(e)).toString('utf8'))));
    });

    it('finds the same snapshot for every bound', async () => {
      const queries: SnapshotQuery[] = [
        {},
        { atOrBeforeVersion: 29 },
        { atOrBeforeVersion: 9 },
        { atOrBeforeVersion: 30, types: ['full', 'incremental'] },
        { atOrBeforeTime: events[19]!.timestamp },
        { types: ['checkpoint'] },
      ];
      for (const q of queries) {
        const [a, b] = await Promise.all([direct.findSnapshot(id, q), viaFerretdb.findSnapshot(id, q)]);
        expect(a, JSON.stringify(q)).toEqual(b);
      }
      expect((await direct.findSnapshot(id, { atOrBeforeVersion: 29 }))?.version).toBe(20);
      expect(await direct.findSnapshot('nobody')).toBeUndefined();
    });
  });
}
