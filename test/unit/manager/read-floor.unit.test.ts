import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { MemoryCache } from '../../../src/cache/memory.js';
import { AgentStateClient, JsonEventCodec } from '../../../src/client/index.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicSpecs } from '../../../src/log/topics.js';
import { ReadFloor } from '../../../src/manager/read-floor.js';
import { StateManager } from '../../../src/manager/index.js';
import { Projector, decodeCached, encodeCached, stateCacheKey } from '../../../src/projector/index.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-read-floor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('StateManager read floor', () => {
  it('never returns less than it returned: a cache entry behind it sends the read to the store', async () => {
    const prefix = 'f.';
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite') });
    await log.setup(topicSpecs({ prefix, partitions: 1 }));
    const store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
    await store.setup();
    const blobs = new FsBlobStore({ dir: join(dir, 'blobs') });
    const cache = new MemoryCache();
    const codec = new JsonEventCodec();
    const project = () => new Projector({ log, codec, store, blobs, cache, topicPrefix: prefix, sweepIntervalMs: 0 }).runUntilCaughtUp(undefined, 20);
    const writer = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, bootstrap: false });
    try {
      await writer.createAgent('a', { agentType: 'worker' });
      await project();
      const v1 = (await cache.get(stateCacheKey('a')))!;
      await writer.updateState('a', (d) => void (d.memory.n = 2));
      await project();

      const manager = new StateManager({ store, blobs, cache, pollMs: 5, minVersionTimeoutMs: 300 });
      expect(await manager.getCurrentState('a')).toMatchObject({ version: 2, source: 'cache' });
      // A stale entry (as an unguarded writer or an evict-and-refill race could leave): a fresh manager sees it,
      await cache.set(stateCacheKey('a'), v1);
      expect(await new StateManager({ store, blobs, cache }).getCurrentState('a')).toMatchObject({ version: 1, source: 'cache' });
      // but this one already returned 2, so it reads the store, and the guarded fill repairs the entry.
      expect(await manager.getCurrentState('a')).toMatchObject({ version: 2, source: 'store' });
      expect(decodeCached((await cache.get(stateCacheKey('a')))!).header.version).toBe(2);

      // A body-less entry (state too large to cache) is read from the store, and a fill cannot replace it with less.
      const { header } = decodeCached((await cache.get(stateCacheKey('a')))!);
      await cache.setIfNewer(stateCacheKey('a'), encodeCached({ ...header, inStore: true }, Buffer.alloc(0)), 2);
      expect(await manager.getCurrentState('a')).toMatchObject({ version: 2, source: 'store' });
      expect(await cache.setIfNewer(stateCacheKey('a'), v1, 1)).toBe(false);

      // A store behind what this manager returned: it waits, then refuses rather than go back.
      await cache.delete(stateCacheKey('a'));
      const row = (await store.getState('a'))!;
      await store.deleteState('a');
      await store.writeBatch({ states: [{ ...row, version: 1 }], events: [] });
      await expect(manager.getCurrentState('a')).rejects.toMatchObject({ code: 'AS_ABORTED', message: expect.stringMatching(/already returned version 2/) });
      // An agent whose current state is gone is not an older version: undefined, and the floor is forgotten.
      await store.deleteState('a');
      expect(await manager.getCurrentState('a')).toBeUndefined();
    } finally {
      await writer.close();
      await cache.close();
      await blobs.close();
      await store.close();
      await log.close();
    }
  });

  it('is bounded: past maxAgents the least recently read agent is forgotten', () => {
    const floor = new ReadFloor(2);
    floor.raise('a', 5);
    floor.raise('b', 3);
    floor.raise('a', 4); // never lowers; refreshes a
    floor.raise('c', 1);
    expect([floor.get('a'), floor.get('b'), floor.get('c'), floor.size]).toEqual([5, 0, 1, 2]);
    expect(() => new StateManager({ store: {} as never, blobs: {} as never, maxTrackedAgents: 0 })).toThrow(/maxTrackedAgents/);
  });
});
