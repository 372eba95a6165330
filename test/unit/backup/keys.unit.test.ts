import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KEYS_LIVE_PREFIX, liveKeyKey, readShredList, restoreEmbedded, shredKey, verifyBackup } from '../../../src/backup/index.js';
import { KeyDestroyedError, Keyring, MasterKeySet } from '../../../src/codec/index.js';
import { Projector } from '../../../src/projector/index.js';
import { Snapshotter } from '../../../src/snapshots/snapshotter.js';
import { InMemoryDataKeyStore } from '../../../src/store/data-keys.js';
import { SqliteDataKeyStore, SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { openEmbeddedSource, tempRoot } from '../../support/embedded-source.js';
import { archiveUntilCaughtUp, codec, writeAgents } from './helpers.js';

const root = tempRoot('backup-keys');

/**
 * Erasure across a disaster (issue 14): the backup holds the wrapped data
 * keys and the shred list, so an encrypted backup restores after the key
 * store is lost, and an agent erased by crypto-shredding stays erased: its
 * events and snapshots are unreadable with the restored keys too.
 */
describe('data keys and the shred list in the backup', () => {
  it('restores every live key (wrapped) and never the key of a shredded agent: its events and snapshots stay unreadable', async () => {
    const prefix = 'keys.';
    const masterKeys = new MasterKeySet({ k1: randomBytes(32) });
    const sourceKeys = new InMemoryDataKeyStore();
    const keyring = new Keyring({ masterKeys, store: sourceKeys });
    const source = await openEmbeddedSource(join(root, 'src'), prefix, 2);
    const { log, blobs, store } = source;
    const ids = Array.from({ length: 5 }, (_, i) => `k-${i}`);
    try {
      await writeAgents(log, prefix, ids, 4, 'secret-');
      // The source's projector encrypts snapshot bodies (every 2 versions) under the agents' keys.
      const projector = new Projector({ log, codec, store, blobs, keyring, topicPrefix: prefix, sweepIntervalMs: 0, snapshots: { everyEvents: 2 } });
      await projector.runUntilCaughtUp();
      const snapshotsOf = async (id: string) => store.listSnapshots(id);
      expect((await snapshotsOf('k-0')).length).toBeGreaterThan(0);

      await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, keyring, dataKeys: sourceKeys, compression: 'none' });
      const k0Key = (await sourceKeys.listForInstance('k-0'))[0]!;
      // The backup's copy is the port's wrapped bytes (ciphertext under k1), never the clear key.
      const k0Copy = (await blobs.get(liveKeyKey(k0Key.keyId)))!;
      const archived = JSON.parse(k0Copy.toString('utf8')) as { wrapped: string; masterKeyId: string };
      expect({ wrapped: Buffer.from(archived.wrapped, 'base64').equals(k0Key.wrapped!), masterKeyId: archived.masterKeyId }).toEqual({ wrapped: true, masterKeyId: 'k1' });

      // k-0 is erased; the next sync puts it on the shred list and removes its wrapped key from the backup.
      await keyring.destroyAgentKeys('k-0');
      await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, keyring, dataKeys: sourceKeys, compression: 'none' });
      expect(await blobs.head(liveKeyKey(k0Key.keyId))).toBeUndefined();
      expect([...(await readShredList(blobs)).keys()]).toEqual(['k-0']);
      expect(await blobs.head(shredKey('k-0'))).toBeDefined();
      let live = 0;
      for await (const _ of blobs.list(KEYS_LIVE_PREFIX)) live++;
      expect(live).toBe(ids.length - 1);

      // Disaster: the source key store is gone; only the master keys (kept apart) and the backup remain.
      const target = join(root, 'restored');
      const report = await restoreEmbedded({ blobs, targetDataDir: target, codec, topicPrefix: prefix, masterKeys });
      expect({ ok: report.ok, agents: report.agents, keys: report.keys }).toEqual({ ok: true, agents: ids.length - 1, keys: { restored: ids.length - 1, shreddedAgents: 1, withheld: 0 } });
      const restoredKeys = new SqliteDataKeyStore({ path: join(target, 'keys.sqlite') });
      await restoredKeys.setup();
      const restoredStore = new SqliteStateStore({ path: join(target, 'store.sqlite') });
      try {
        const k0 = await restoredKeys.listForInstance('k-0');
        expect(k0.map((k) => ({ wrapped: k.wrapped, destroyed: k.destroyedAt !== null }))).toEqual([{ wrapped: null, destroyed: true }]);
        expect(await restoredStore.getState('k-0')).toBeUndefined();
        expect((await restoredStore.getState('k-1'))?.version).toBe(5);
        const restoredRing = new Keyring({ masterKeys, store: restoredKeys });
        // Events: the backup read with the restored keys has k-0's records as shredded, the others verify and fold.
        const v = await verifyBackup({ blobs, codec, keyring: restoredRing, deep: true });
        expect({ ok: v.ok, shredded: v.shredded, folded: v.deep!.folded }).toEqual({ ok: true, shredded: 5, folded: ids.length - 1 });
        // Snapshots: the source's snapshot bodies of k-0 do not open with the restored keys; k-1's do.
        const snapshotter = new Snapshotter(store, blobs, { keyring: restoredRing });
        await expect(snapshotter.load((await snapshotsOf('k-0'))[0]!)).rejects.toBeInstanceOf(KeyDestroyedError);
        await expect(snapshotter.load((await snapshotsOf('k-1'))[0]!)).resolves.toBeDefined();
        // The restored agent cannot get a new key either (the tombstone holds).
        await expect(restoredRing.encrypt('k-0', Buffer.from('x'))).rejects.toBeInstanceOf(KeyDestroyedError);
      } finally {
        await Promise.allSettled([restoredKeys.close(), restoredStore.close()]);
      }
      // A wrapped copy left behind (a crash between the shred entry and the delete, an old object version) is never restored.
      await blobs.put(liveKeyKey(k0Key.keyId), k0Copy);
      const again = await restoreEmbedded({ blobs, targetDataDir: join(root, 'restored-2'), codec, topicPrefix: prefix, masterKeys });
      expect({ ok: again.ok, keys: again.keys }).toEqual({ ok: true, keys: { restored: ids.length - 1, shreddedAgents: 1, withheld: 1 } });
      const keys2 = new SqliteDataKeyStore({ path: join(root, 'restored-2', 'keys.sqlite') });
      await keys2.setup();
      expect((await keys2.listForInstance('k-0')).map((k) => k.wrapped)).toEqual([null]);
      await keys2.close();
    } finally {
      await source.close();
    }
  });
});
