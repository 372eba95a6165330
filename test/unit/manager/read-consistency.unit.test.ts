import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { MemoryCache } from '../../../src/cache/memory.js';
import { AgentStateClient, JsonEventCodec } from '../../../src/client/index.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicSpecs } from '../../../src/log/topics.js';
import { StateManager } from '../../../src/manager/index.js';
import { Projector } from '../../../src/projector/index.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { readRace } from '../../support/read-race.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-reads-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('read consistency on the embedded profile (SQLite log and store, memory cache)', () => {
  it('never returns an older version under concurrent writers, the in-process projector and busy readers', async () => {
    const prefix = 'r.';
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite') });
    await log.setup(topicSpecs({ prefix, partitions: 4 }));
    const store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
    await store.setup();
    const blobs = new FsBlobStore({ dir: join(dir, 'blobs') });
    const cache = new MemoryCache();
    const codec = new JsonEventCodec();
    // Frequent snapshots: the per-batch work that once sat between the store write and the cache write.
    const snapshots = { everyEvents: 5, fullEvery: 2 };
    const stop = new AbortController();
    const projector = new Projector({ log, codec, store, blobs, cache, topicPrefix: prefix, snapshots, sweepIntervalMs: 0, maxBatchRecords: 200 });
    const running = projector.run(stop.signal);
    const writer = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, bootstrap: false });
    const manager = new StateManager({ store, blobs, cache, snapshots, pollMs: 5, minVersionTimeoutMs: 20_000 });
    try {
      const ids = Array.from({ length: 50 }, (_, i) => `reader-race-${i}`);
      const r = await readRace({ writer, manager, store, ids, durationMs: 8_000, readers: 8, paceEvery: 20, thinkMs: 20 });
      console.info('embedded read race', JSON.stringify(r));
      // The race did real work on every kind of read (it can fail only if it read a lot).
      expect(r.writes, JSON.stringify(r)).toBeGreaterThan(500);
      expect(r.minVersionReads).toBeGreaterThan(100);
      expect(r.storeCheckedReads).toBeGreaterThan(100);
      expect({ backward: r.backward, behindStore: r.behindStore, examples: r.examples }).toEqual({ backward: 0, behindStore: 0, examples: [] });
    } finally {
      stop.abort();
      await running;
      await writer.close();
      await cache.close();
      await blobs.close();
      await store.close();
      await log.close();
    }
  }, 60_000);
});
