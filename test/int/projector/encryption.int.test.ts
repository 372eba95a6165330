import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStateClient } from '../../../src/client/index.js';
import { DecodeError, KeyDestroyedError } from '../../../src/codec/errors.js';
import { Keyring, MasterKeySet } from '../../../src/codec/index.js';
import { InMemoryDataKeyStore } from '../../../src/store/data-keys.js';
import { fold } from '../../../src/domain/index.js';
import { StateManager } from '../../../src/manager/index.js';
import type { MongoStore } from '../../../src/store/mongo/index.js';
import { codec, readEvents, world, type World } from './harness.js';

const SECRET = 'the-launch-code-is-0451';

describe('encrypted snapshots (DESIGN.md Security)', () => {
  let w: World;
  let store: MongoStore;
  const keys = new InMemoryDataKeyStore();
  const keyring = new Keyring({ masterKeys: new MasterKeySet({ m1: randomBytes(32) }), store: keys });
  const id = 'enc-1';
  const snapshots = { everyEvents: 5, fullEvery: 2 };

  beforeAll(async () => {
    w = await world(1);
    store = await w.newStore();
    const writer = await AgentStateClient.connect({ log: w.log, codec, topicPrefix: w.prefix });
    try {
      await writer.createAgent(id, { agentType: 'worker' });
      for (let n = 1; n <= 12; n++) await writer.updateState(id, (d) => void (d.memory[`note${n}`] = `${SECRET} #${n}`));
    } finally {
      await writer.close();
    }
    await w.projector(store, { snapshots, keyring }).runUntilCaughtUp();
  });
  afterAll(async () => {
    await w.close();
  });

  it('stores snapshot bodies encrypted, and restores them with the keyring to the fold of the log', async () => {
    const records = await store.listSnapshots(id);
    expect(records.map((r) => `${r.version}:${r.type}`)).toEqual(['10:incremental', '5:full']);
    const events = (await readEvents(w.log, w.prefix)).get(id)!;
    const manager = new StateManager({ store, blobs: w.blobs, snapshots, keyring });
    for (const r of records) {
      const bytes = (await w.blobs.get(r.blobKey))!;
      expect(bytes.subarray(0, 4).toString('latin1')).toBe('ASEF');
      expect(bytes.includes(Buffer.from('launch-code'))).toBe(false);
      const { state } = await manager.restoreSnapshot(r.snapshotId);
      expect(state).toEqual(fold(events.slice(0, r.version)).projection!.state);
    }
    // Time travel goes through the snapshots too.
    expect((await manager.projectState(id, 11)).checksum).toBe(fold(events.slice(0, 11)).projection!.checksum);
  });

  it('refuses without the keyring, and for good once the agent is crypto-shredded', async () => {
    const [latest] = await store.listSnapshots(id);
    const blind = new StateManager({ store, blobs: w.blobs, snapshots });
    await expect(blind.restoreSnapshot(latest!.snapshotId)).rejects.toThrow(DecodeError);
    await expect(blind.restoreSnapshot(latest!.snapshotId)).rejects.toThrow(/encrypted and no keyring/);

    expect(await keyring.destroyAgentKeys(id)).toBeGreaterThan(0);
    const manager = new StateManager({ store, blobs: w.blobs, snapshots, keyring });
    await expect(manager.restoreSnapshot(latest!.snapshotId)).rejects.toBeInstanceOf(KeyDestroyedError);
  });
});
