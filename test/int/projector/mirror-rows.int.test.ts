import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stateCacheKey } from '../../../src/cache/state-entry.js';
import { AgentStateClient } from '../../../src/client/index.js';
import { resetProjectorGroup } from '../../../src/projector/index.js';
import { MongoStore } from '../../../src/store/mongo/index.js';
import { canonicalJson } from '../../../src/domain/index.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { codec, foldLog, readEvents, storedProjections, world, type World } from './harness.js';

const AGENTS = 20;
const UPDATES = 12;

const url = stackEnv().ferretdbPostgresUrl;
// FerretDB on PostgreSQL only (the dev stack's default): the mirror's rows written to its tables directly.
if (url !== undefined) {
  describe('projector on FerretDB/PostgreSQL with the mirror written to PostgreSQL directly', () => {
    let w: World;
    const open = async (directInserts: boolean): Promise<MongoStore> => {
      const store = await MongoStore.connect({ uri: stackEnv().mongodbUri, database: uniqueName('mrows').replace(/[-.]/g, '_'), ferretdbPostgresUrl: url, directInserts });
      await store.setup();
      w.stores.push(store);
      return store;
    };
    const ids = Array.from({ length: AGENTS }, (_, i) => `mrow-${i}`);

    beforeAll(async () => {
      w = await world(3);
      const client = await AgentStateClient.connect({ log: w.log, codec, topicPrefix: w.prefix });
      try {
        await Promise.all(ids.map((id) => client.createAgent(id, { agentType: 'worker' })));
        for (let round = 0; round < UPDATES; round++) {
          await Promise.all(
            ids.map((id) =>
              client.updateState(id, (d) => {
                d.memory[`turn${round % 4}`] = { text: `round ${round} of ${id}: "quoted", tab\t, emoji 😀`, n: round, ratio: round / 7 };
                d.status = round % 2 ? 'running' : 'idle';
              }),
            ),
          );
        }
      } finally {
        await client.close();
      }
    }, 180_000);
    afterAll(async () => {
      await w.close();
    });

    const mirror = async (store: MongoStore): Promise<unknown[]> =>
      store.connection.db
        .collection('state_events')
        .find({}, { sort: { _id: 1 } })
        .toArray();

    it('writes the same mirror and state documents as FerretDB would, and survives a crash between the mirror and the state rows', async () => {
      const expected = await foldLog(w.log, w.prefix);
      const direct = await open(true);
      expect(await direct.eventInsertPath()).toBe('postgres');
      await w.projector(direct).runUntilCaughtUp();

      // The same log through FerretDB's insert commands: the same documents, read through the driver.
      const viaFerretdb = await open(false);
      await resetProjectorGroup({ log: w.log, group: `${w.prefix}projector`, target: { to: 'earliest' }, topicPrefix: w.prefix });
      await w.projector(viaFerretdb).runUntilCaughtUp();
      const rows = await mirror(direct);
      expect(rows).toHaveLength(AGENTS * (UPDATES + 1));
      expect(rows).toEqual(await mirror(viaFerretdb));
      // Each row keeps its event once: the rest of the body beside the changeset of the query view, no whole body.
      for (const row of rows as Array<{ bodyRest?: unknown; body?: unknown }>) expect([typeof row.bodyRest, row.body]).toEqual(['string', undefined]);
      // And every body read back is the canonical JSON of the event on the log, byte for byte.
      const logged = await readEvents(w.log, w.prefix);
      for (const id of ids) {
        expect((await direct.queryEvents({ instanceId: id })).map((e) => e.body.toString('utf8'))).toEqual(logged.get(id)!.map((e) => canonicalJson(e)));
      }
      // And the state rows (one version-guarded upsert per batch here, a guarded replaceOne per agent there).
      const states = async (store: MongoStore): Promise<unknown[]> =>
        store.connection.db
          .collection('agent_states')
          .find({}, { sort: { _id: 1 } })
          .toArray();
      expect(await states(direct)).toHaveLength(AGENTS);
      expect(await states(direct)).toEqual(await states(viaFerretdb));

      // A kill after the batch's mirror rows held and before its state rows and its commit:
      // the store has the mirror but no state rows, and the group starts again from the earliest offset.
      await direct.connection.db.collection('agent_states').deleteMany({});
      for (const id of ids) await w.cache.delete(stateCacheKey(id));
      await resetProjectorGroup({ log: w.log, group: `${w.prefix}projector`, target: { to: 'earliest' }, topicPrefix: w.prefix });
      await w.projector(direct).runUntilCaughtUp();
      expect((await direct.counts()).events).toBe(AGENTS * (UPDATES + 1));
      // Every agent equals the fold of its log; the mirror holds each version once, unchanged.
      const stored = await storedProjections(direct, w.blobs, ids);
      for (const id of ids) expect(stored.get(id), id).toEqual(expected.get(id));
      expect(await mirror(direct)).toEqual(rows);
      for (const id of ids.slice(0, 3)) expect((await direct.queryEvents({ instanceId: id })).map((e) => e.version)).toEqual(Array.from({ length: UPDATES + 1 }, (_, i) => i + 1));
    });
  });
}
