import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStateClient } from '../../../src/client/index.js';
import { fold } from '../../../src/domain/index.js';
import { ChecksumMismatchError } from '../../../src/domain/errors.js';
import { NotFoundError } from '../../../src/errors.js';
import { StateManager } from '../../../src/manager/index.js';
import type { MongoStore } from '../../../src/store/mongo/index.js';
import { codec, readEvents, waitCaughtUp, world, type World } from '../projector/harness.js';
import type { Projector } from '../../../src/projector/index.js';

describe('StateManager over a running projector', () => {
  let w: World;
  let store: MongoStore;
  let writer: AgentStateClient;
  let manager: StateManager;
  const stop = new AbortController();
  let running: Promise<void>;
  let projector: Projector;
  const id = 'tt-1';
  const snapshots = { everyEvents: 10, fullEvery: 2 };

  beforeAll(async () => {
    w = await world(2);
    store = await w.newStore();
    projector = w.projector(store, { snapshots });
    running = projector.run(stop.signal);
    writer = await AgentStateClient.connect({ log: w.log, codec, topicPrefix: w.prefix });
    manager = new StateManager({ store, blobs: w.blobs, cache: w.cache, writer, snapshots });
    await writer.createAgent(id, { agentType: 'worker' });
    for (let n = 1; n <= 30; n++) {
      await writer.updateState(id, (d) => {
        d.memory.step = n;
        d.memory[`note${n % 4}`] = `n=${n}`;
      });
    }
  });
  afterAll(async () => {
    stop.abort();
    await running;
    await writer?.close();
    await w?.close();
  });

  it('reads its own writes with minVersion, from the cache, and falls back to the store after invalidation', async () => {
    const view = await manager.getCurrentState(id, { minVersion: 31 });
    expect(view?.version).toBe(31);
    expect(view?.state.memory.step).toBe(30);
    expect(view?.checksum).toBe(writer.getState(id)?.checksum);
    // Wait for the whole batch (cache, store, snapshots, state topic), so the
    // invalidation below is not undone by a later write of the same batch.
    await waitCaughtUp(projector);
    expect((await manager.getCurrentState(id))?.source).toBe('cache');
    await manager.invalidateCache(id);
    expect((await manager.getCurrentState(id))?.source).toBe('store');
    expect((await manager.getCurrentState(id))?.source).toBe('cache'); // read-through filled it
    expect(manager.getCacheStatistics()!.hits).toBeGreaterThan(0);
    await expect(manager.getCurrentState(id, { minVersion: 99, timeoutMs: 300 })).rejects.toMatchObject({ code: 'AS_ABORTED' });
    expect(await manager.getCurrentState('nobody')).toBeUndefined();
  });

  it('projects any past version from snapshots plus events, equal to the fold of the log up to it', async () => {
    await manager.getCurrentState(id, { minVersion: 31 });
    const events = (await readEvents(w.log, w.prefix)).get(id)!;
    expect((await store.listSnapshots(id)).map((s) => `${s.version}:${s.type}`)).toEqual(['30:full', '20:incremental', '10:full']);
    for (const v of [1, 2, 9, 10, 11, 20, 25, 31]) {
      const expected = fold(events.slice(0, v)).projection!;
      const got = await manager.projectState(id, v);
      expect({ v: got.version, c: got.checksum, s: got.state }, `version ${v}`).toEqual({ v, c: expected.checksum, s: expected.state });
    }
    const at = events[6]!.timestamp; // version 7's time (later events may share the millisecond)
    const byTime = await manager.projectStateAtTime(id, at);
    expect(byTime.version).toBeGreaterThanOrEqual(7);
    expect(events[byTime.version - 1]!.timestamp).toBe(at);
    await expect(manager.projectStateAtTime(id, events[0]!.timestamp - 1)).rejects.toBeInstanceOf(NotFoundError);
    const replay = await manager.replayEvents(id, 5, 25);
    expect(replay).toMatchObject({ finalVersion: 25, verified: true, errors: [], eventsReplayed: 21 });
    const history = await manager.getVersionHistory(id, { fromVersion: 29 });
    expect(history.map((h) => h.version)).toEqual([29, 30, 31]);
  });

  it('rolls back with a new state_rolled_back event equal in content to the old version; history stays', async () => {
    const old = await manager.projectState(id, 12);
    const result = await manager.rollbackToVersion(id, 12, { reason: 'bad deploy' });
    expect(result.newVersion).toBe(32);
    expect(result.checksum).toBe(old.checksum);
    const now = await manager.getCurrentState(id, { minVersion: 32 });
    expect(now?.state).toEqual(old.state);
    expect(now?.checksum).toBe(old.checksum);
    const [event] = await manager.getEventHistory(id, { fromVersion: 32 });
    expect(event?.eventType).toBe('state_rolled_back');
    expect(event?.metadata.rolledBackTo).toBe('12');
    // Time travel still sees the versions in between.
    expect((await manager.projectState(id, 31)).state.memory.step).toBe(30);
    expect((await manager.getEventHistory(id, { eventTypes: ['state_rolled_back'] })).map((e) => e.version)).toEqual([32]);
  });

  it('takes and restores a checkpoint, refusing a corrupted body', async () => {
    const current = await manager.getCurrentState(id, { minVersion: 32 });
    const snap = await manager.createSnapshot(id, { permanent: true });
    expect(snap).toMatchObject({ type: 'checkpoint', version: 32, permanent: true, stateChecksum: current!.checksum });
    // The owner records it in the agent's history: snapshot_created, no state change.
    await manager.getCurrentState(id, { minVersion: 33 });
    const [marker] = await manager.getEventHistory(id, { fromVersion: 33 });
    expect(marker).toMatchObject({ eventType: 'snapshot_created', changeset: [], metadata: { snapshotId: snap.snapshotId, snapshotVersion: '32', snapshotType: 'checkpoint', trigger: 'manual' } });
    expect(marker?.stateChecksum).toBe(current!.checksum);
    const restored = await manager.restoreSnapshot(snap.snapshotId);
    expect(restored.state).toEqual(current!.state);
    const bytes = (await w.blobs.get(snap.blobKey))!;
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
    await w.blobs.put(snap.blobKey, bytes);
    await expect(manager.restoreSnapshot(snap.snapshotId)).rejects.toBeInstanceOf(ChecksumMismatchError);
  });

  it('compacts the event mirror behind the newest full snapshot and cleans up old snapshots', async () => {
    const { belowVersion, eventsDeleted } = await manager.compactEvents(id, { strategy: 'before_version', version: 20 });
    expect({ belowVersion, eventsDeleted }).toEqual({ belowVersion: 20, eventsDeleted: 19 });
    expect((await manager.projectState(id, 25)).version).toBe(25); // from the snapshot at 20
    await expect(manager.projectState(id, 15)).rejects.toBeInstanceOf(NotFoundError);
    const { snapshotsDeleted } = await manager.cleanupOldStates(id, { keepLast: 1 });
    // Kept: the permanent checkpoint (newest); deleted: 30, 20 and 10 (no kept snapshot builds on them).
    expect(snapshotsDeleted).toBe(3);
    expect((await store.listSnapshots(id)).map((s) => s.type)).toEqual(['checkpoint']);
  });
});
