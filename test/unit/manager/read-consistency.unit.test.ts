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
import { readRace, type ReadRaceResult } from '../../support/read-race.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-reads-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One embedded world (its own files), the projector running in this process, and a race in it. */
async function embeddedRace(name: string, race: { durationMs: number; readers: number; paceEvery: number; thinkMs: number }): Promise<ReadRaceResult> {
  const prefix = 'r.';
  const log = new SqliteEventLog({ path: join(dir, `${name}-log.sqlite`) });
  await log.setup(topicSpecs({ prefix, partitions: 4 }));
  const store = new SqliteStateStore({ path: join(dir, `${name}-store.sqlite`) });
  await store.setup();
  const blobs = new FsBlobStore({ dir: join(dir, `${name}-blobs`) });
  const cache = new MemoryCache();
  const codec = new JsonEventCodec();
  // Frequent snapshots: the per-batch work that once sat between the store write and the cache write.
  const snapshots = { everyEvents: 5, fullEvery: 2 };
  const stop = new AbortController();
  const projector = new Projector({ log, codec, store, blobs, cache, topicPrefix: prefix, snapshots, sweepIntervalMs: 0, maxBatchRecords: 200 });
  const running = projector.run(stop.signal);
  const writer = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, bootstrap: false });
  const manager = new StateManager({ store, blobs, cache, snapshots, pollMs: 5, minVersionTimeoutMs: 30_000 });
  try {
    const ids = Array.from({ length: 50 }, (_, i) => `${name}-${i}`);
    const r = await readRace({ writer, manager, store, ids, ...race });
    console.info(`embedded read race (${name})`, JSON.stringify(r));
    return r;
  } finally {
    stop.abort();
    await running;
    await writer.close();
    await cache.close();
    await blobs.close();
    await store.close();
    await log.close();
  }
}

describe('read consistency on the embedded profile (SQLite log and store, memory cache)', () => {
  it('never returns an older version under 50 concurrent writers, the in-process projector and readers', async () => {
    const r = await embeddedRace('race', { durationMs: 6_000, readers: 8, paceEvery: 20, thinkMs: 20 });
    // The race did real work on every kind of read (it can only fail if it read a lot).
    expect(r.writes, JSON.stringify(r)).toBeGreaterThan(500);
    expect(r.minVersionReads).toBeGreaterThan(5);
    expect(r.storeCheckedReads).toBeGreaterThan(50);
    expect({ backward: r.backward, behindStore: r.behindStore, examples: r.examples }).toEqual({ backward: 0, behindStore: 0, examples: [] });
  }, 90_000);

  it('readers that never yield themselves do not starve the writers or the in-process projector', async () => {
    // Reads served from the memory cache used to resolve without leaving the
    // microtask queue: such readers stopped every timer and the projector.
    const r = await embeddedRace('busy', { durationMs: 4_000, readers: 4, paceEvery: 0, thinkMs: 20 });
    expect(r.writes, JSON.stringify(r)).toBeGreaterThan(250); // > 5 updates per agent
    expect(r.minVersionReads).toBeGreaterThan(2); // each one waited for the projector to reach a fresh write
    expect({ backward: r.backward, behindStore: r.behindStore }).toEqual({ backward: 0, behindStore: 0 });
  }, 90_000);
});
