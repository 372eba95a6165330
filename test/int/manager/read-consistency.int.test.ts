import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStateClient } from '../../../src/client/index.js';
import { StateManager } from '../../../src/manager/index.js';
import type { Projector } from '../../../src/projector/index.js';
import type { MongoStore } from '../../../src/store/mongo/index.js';
import { readRace } from '../../support/read-race.js';
import { codec, world, type World } from '../projector/harness.js';

describe('read consistency on the servers (Kafka, FerretDB, Redis, S3)', () => {
  let w: World;
  let store: MongoStore;
  let projector: Projector;
  let running: Promise<void>;
  const stop = new AbortController();

  beforeAll(async () => {
    w = await world(3);
    store = await w.newStore();
    // Frequent snapshots (S3 puts): the per-batch work that once sat between the store write and the cache write.
    projector = w.projector(store, { snapshots: { everyEvents: 5, fullEvery: 2 } });
    running = projector.run(stop.signal);
  });
  afterAll(async () => {
    stop.abort();
    await running;
    await w?.close();
  });

  it('never returns an older version under concurrent writers, the projector and busy readers', async () => {
    const writer = await AgentStateClient.connect({ log: w.log, codec, topicPrefix: w.prefix });
    const manager = new StateManager({ store, blobs: w.blobs, cache: w.cache, snapshots: { everyEvents: 5, fullEvery: 2 }, pollMs: 10, minVersionTimeoutMs: 60_000 });
    try {
      const ids = Array.from({ length: 30 }, (_, i) => `srv-race-${i}`);
      const r = await readRace({ writer, manager, store, ids, durationMs: 10_000, readers: 6, paceEvery: 0, thinkMs: 30 });
      console.info('servers read race', JSON.stringify(r));
      expect(r.writes, JSON.stringify(r)).toBeGreaterThan(300);
      expect(r.minVersionReads).toBeGreaterThan(2); // each waited for the projector to reach a fresh write
      expect(r.storeCheckedReads).toBeGreaterThan(50);
      expect({ backward: r.backward, behindStore: r.behindStore, examples: r.examples }).toEqual({ backward: 0, behindStore: 0, examples: [] });
    } finally {
      await writer.close();
    }
  });
});
