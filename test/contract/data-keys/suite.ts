import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataKeyStore, WrappedDataKey } from '../../../src/store/data-keys.js';
import { KeyDestroyedError } from '../../../src/codec/errors.js';
import { Keyring } from '../../../src/codec/keyring.js';
import { MasterKeySet } from '../../../src/codec/master-keys.js';

/** A store as an adapter hands it out: `setup()` where the adapter has one. */
export type OpenedStore = DataKeyStore & { setup?(): Promise<void> };

/** One storage location (a database, a file) that stores can be opened on. */
export interface DataKeyStorage {
  /** Opens a new store instance on this storage, as a (re)started process would. */
  open(): Promise<{ store: OpenedStore; close?: () => Promise<void> }>;
  /** Removes the storage. */
  cleanup?(): Promise<void>;
}

export interface DataKeyContractOptions {
  /**
   * Whether a store opened later on the same storage sees what an earlier one
   * wrote. True runs the restart test (a Keyring over a new store instance
   * decrypts, and honours a shred); false for stores that keep nothing.
   */
  durable: boolean;
}

/** A key record with recognisable wrapped bytes. */
export function dataKey(instanceId: string, version: number, extra: Partial<WrappedDataKey> = {}): WrappedDataKey {
  return {
    keyId: `${instanceId}/dk/${version}`,
    instanceId,
    version,
    masterKeyId: 'mk-1',
    wrapped: randomBytes(60),
    createdAt: 1_700_000_000_123 + version,
    destroyedAt: null,
    ...extra,
  };
}

/**
 * The DataKeyStore conformance suite (STYLE.md habit 2): every adapter
 * (memory, SQLite, MongoDB) runs it. `make` returns fresh, empty storage; the
 * suite opens one store on it for the port tests (calling `setup()` twice:
 * it must be idempotent). Each test uses its own agent ids.
 */
export function dataKeyContract(name: string, make: () => Promise<DataKeyStorage>, options: DataKeyContractOptions): void {
  describe(`DataKeyStore contract: ${name}`, () => {
    let storage: DataKeyStorage;
    let store: OpenedStore;
    let close: (() => Promise<void>) | undefined;
    const id = (label: string): string => `${label}-${randomBytes(3).toString('hex')}`;

    async function open(on: DataKeyStorage = storage): Promise<{ store: OpenedStore; close: () => Promise<void> }> {
      const opened = await on.open();
      await opened.store.setup?.();
      return { store: opened.store, close: opened.close ?? (async () => undefined) };
    }

    beforeAll(async () => {
      storage = await make();
      ({ store, close } = await open());
      await store.setup?.(); // idempotent
    });
    afterAll(async () => {
      await close?.();
      await storage?.cleanup?.();
    });

    it('create is first-writer-wins and returns the stored key', async () => {
      const a = id('create');
      const first = dataKey(a, 1);
      expect(await store.create(first)).toEqual(first);
      const second = dataKey(a, 1, { masterKeyId: 'mk-2', createdAt: 1 });
      expect(await store.create(second)).toEqual(first);
      expect(await store.get(first.keyId)).toEqual(first);
      expect(await store.listForInstance(a)).toEqual([first]);
    });

    it('create racing for one key id: every caller gets the same, single stored key', async () => {
      const a = id('race');
      const candidates = Array.from({ length: 8 }, () => dataKey(a, 1));
      const results = await Promise.all(candidates.map((k) => store.create(k)));
      const stored = await store.get(`${a}/dk/1`);
      expect(candidates).toContainEqual(stored);
      for (const r of results) expect(r).toEqual(stored);
      expect(await store.listForInstance(a)).toHaveLength(1);
    });

    it('get returns undefined for an unknown key id', async () => {
      expect(await store.get(`${id('absent')}/dk/1`)).toBeUndefined();
    });

    it("listForInstance is oldest first (by number, not text) and holds only that agent's keys", async () => {
      const a = id('list');
      const keys = [dataKey(a, 10), dataKey(a, 2), dataKey(a, 1)];
      for (const k of keys) await store.create(k);
      await store.create(dataKey(`${a}-other`, 1)); // an id that extends `a`
      await store.create(dataKey(id('list'), 3));
      expect((await store.listForInstance(a)).map((k) => k.version)).toEqual([1, 2, 10]);
      expect(await store.listForInstance(a)).toEqual([keys[2], keys[1], keys[0]]);
      expect(await store.listForInstance(id('nobody'))).toEqual([]);
    });

    it('listAll returns every key, tombstones included', async () => {
      const a = id('all');
      const b = id('all');
      const keys = [dataKey(a, 1), dataKey(a, 2), dataKey(b, 1)];
      for (const k of keys) await store.create(k);
      await store.destroy(keys[2]!.keyId, 1_800_000_000_000);
      const mine = (await store.listAll()).filter((k) => k.instanceId === a || k.instanceId === b);
      const byId = (x: WrappedDataKey, y: WrappedDataKey): number => (x.keyId < y.keyId ? -1 : x.keyId > y.keyId ? 1 : 0);
      expect(mine.sort(byId)).toEqual([keys[0], keys[1], { ...keys[2]!, wrapped: null, destroyedAt: 1_800_000_000_000 }].sort((x, y) => byId(x!, y!)));
    });

    it('rewrap succeeds only from the current master key (compare-and-set)', async () => {
      const key = dataKey(id('rewrap'), 1);
      await store.create(key);
      const next = randomBytes(60);
      expect(await store.rewrap(key.keyId, 'mk-wrong', 'mk-2', next)).toBe(false);
      expect(await store.get(key.keyId)).toEqual(key);
      expect(await store.rewrap(key.keyId, 'mk-1', 'mk-2', next)).toBe(true);
      expect(await store.get(key.keyId)).toEqual({ ...key, masterKeyId: 'mk-2', wrapped: next });
      // A second rotator that listed the key before the first one wrote loses.
      expect(await store.rewrap(key.keyId, 'mk-1', 'mk-3', randomBytes(60))).toBe(false);
      expect((await store.get(key.keyId))?.masterKeyId).toBe('mk-2');
      expect(await store.rewrap(`${id('absent')}/dk/1`, 'mk-1', 'mk-2', next)).toBe(false);
    });

    it('rewrap never brings a destroyed key back', async () => {
      const key = dataKey(id('shred-rewrap'), 1);
      await store.create(key);
      expect(await store.destroy(key.keyId, 1_800_000_000_000)).toBe(true);
      expect(await store.rewrap(key.keyId, 'mk-1', 'mk-2', randomBytes(60))).toBe(false);
      expect(await store.get(key.keyId)).toEqual({ ...key, wrapped: null, destroyedAt: 1_800_000_000_000 });
      // A tombstone created as such (a shred before first use) cannot be re-wrapped either.
      const tomb = dataKey(id('tomb'), 1, { wrapped: null, destroyedAt: 1_800_000_000_000 });
      expect(await store.create(tomb)).toEqual(tomb);
      expect(await store.rewrap(tomb.keyId, 'mk-1', 'mk-2', randomBytes(60))).toBe(false);
      expect(await store.get(tomb.keyId)).toEqual(tomb);
    });

    it('destroy leaves a tombstone (wrapped null, destroyedAt set) and returns false the second time', async () => {
      const a = id('destroy');
      const key = dataKey(a, 1);
      const other = dataKey(a, 2);
      await store.create(key);
      await store.create(other);
      expect(await store.destroy(key.keyId, 1_800_000_000_000)).toBe(true);
      const tomb = { ...key, wrapped: null, destroyedAt: 1_800_000_000_000 };
      expect(await store.get(key.keyId)).toEqual(tomb);
      expect(await store.destroy(key.keyId, 1_900_000_000_000)).toBe(false);
      expect(await store.get(key.keyId)).toEqual(tomb); // the first shred's time stays
      expect(await store.listForInstance(a)).toEqual([tomb, other]);
      expect(await store.destroy(`${id('absent')}/dk/1`, 1)).toBe(false);
      // The second shred cannot resurrect by create either: the tombstone wins.
      expect(await store.create(dataKey(a, 1))).toEqual(tomb);
    });

    // Error cases are part of the contract (issue 13): the same answer on every adapter.
    it('unknown key ids: get is undefined, listForInstance empty, rewrap and destroy false', async () => {
      const a = id('unknown');
      expect(await store.get(`${a}/dk/1`)).toBeUndefined();
      expect(await store.listForInstance(a)).toEqual([]);
      expect(await store.rewrap(`${a}/dk/1`, 'mk-1', 'mk-2', randomBytes(60))).toBe(false);
      expect(await store.destroy(`${a}/dk/1`, 1_800_000_000_000)).toBe(false);
    });

    it('refuses a malformed key record with AS_INVALID_INPUT, storing nothing', async () => {
      const a = id('malformed');
      const bad: WrappedDataKey[] = [dataKey(a, 0), dataKey(a, 1.5), { ...dataKey(a, 1), keyId: '' }, { ...dataKey(a, 2), instanceId: '' }, { ...dataKey(a, 3), masterKeyId: '' }, { ...dataKey(a, 4), wrapped: null }];
      for (const key of bad) await expect(store.create(key), JSON.stringify({ ...key, wrapped: key.wrapped ? 'bytes' : null })).rejects.toMatchObject({ code: 'AS_INVALID_INPUT' });
      expect(await store.listForInstance(a)).toEqual([]);
    });

    // A store with nothing to close (in memory) has no "after close".
    if (options.durable)
      it('use after close is AS_CLOSED, not retryable', async () => {
        const opened = await storage.open();
        await opened.store.setup?.();
        await opened.close!();
        await expect(opened.store.get('any/dk/1')).rejects.toMatchObject({ code: 'AS_CLOSED', retryable: false });
        await expect(opened.store.create(dataKey(id('closed'), 1))).rejects.toMatchObject({ code: 'AS_CLOSED', retryable: false });
      });

    it('destroy racing itself: exactly one caller destroys', async () => {
      const key = dataKey(id('destroy-race'), 1);
      await store.create(key);
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => store.destroy(key.keyId, 1_800_000_000_000 + i)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await store.get(key.keyId))?.wrapped).toBeNull();
    });

    it('a re-wrap racing a shred never brings the key back', async () => {
      const a = id('race-shred');
      for (let i = 0; i < 20; i++) {
        const key = dataKey(`${a}-${i}`, 1);
        await store.create(key);
        const [, destroyed] = await Promise.all([store.rewrap(key.keyId, 'mk-1', 'mk-2', randomBytes(60)), store.destroy(key.keyId, 1_800_000_000_000)]);
        expect(destroyed).toBe(true);
        expect(await store.get(key.keyId)).toMatchObject({ wrapped: null, destroyedAt: 1_800_000_000_000 });
        expect(await store.listForInstance(key.instanceId)).toMatchObject([{ wrapped: null, destroyedAt: 1_800_000_000_000 }]);
        expect(await store.rewrap(key.keyId, 'mk-1', 'mk-2', randomBytes(60))).toBe(false);
        expect(await store.rewrap(key.keyId, 'mk-2', 'mk-3', randomBytes(60))).toBe(false);
      }
    });

    it('wrapped bytes round-trip byte for byte as Buffers, through create and rewrap', async () => {
      const a = id('bytes');
      const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i)); // zeros, 0xff, invalid UTF-8
      const key = dataKey(a, 1, { wrapped: every });
      await store.create(key);
      const got = await store.get(key.keyId);
      expect(Buffer.isBuffer(got?.wrapped)).toBe(true);
      expect(got?.wrapped?.equals(every)).toBe(true);
      expect(got?.wrapped?.length).toBe(256);
      const [listed] = await store.listForInstance(a);
      expect(Buffer.isBuffer(listed?.wrapped) && listed.wrapped.equals(every)).toBe(true);
      // A view into a larger buffer: only its own bytes are stored.
      const big = randomBytes(200);
      const view = big.subarray(50, 110);
      expect(await store.rewrap(key.keyId, 'mk-1', 'mk-2', view)).toBe(true);
      const after = await store.get(key.keyId);
      expect(Buffer.isBuffer(after?.wrapped)).toBe(true);
      expect(after?.wrapped?.equals(Buffer.from(view))).toBe(true);
      expect(typeof after?.version).toBe('number');
      expect(after?.createdAt).toBe(1_700_000_000_124);
    });

    if (options.durable) {
      it('is durable: a new Keyring over a new store instance decrypts, re-wraps and honours a shred', async () => {
        const k1 = randomBytes(32);
        const k2 = randomBytes(32);
        const agent = id('restart');
        const secret = Buffer.from('{"memory":["the card number is 4111 1111 1111 1111"]}');
        // Storage of its own: a master-key rotation re-wraps every key there,
        // and the other tests' keys name master keys that do not exist.
        const own = await make();
        const handles: Array<{ close: () => Promise<void> }> = [];
        const reopen = async (): Promise<{ store: OpenedStore; close: () => Promise<void> }> => {
          const h = await open(own);
          handles.push(h);
          return h;
        };
        try {
          // Process 1 writes with data key 1, rotates, writes with data key 2.
          const first = await reopen();
          const before = new Keyring({ masterKeys: new MasterKeySet({ k1 }), store: first.store });
          const v1 = await before.encrypt(agent, secret, Buffer.from('v1'));
          await before.rotateDataKey(agent);
          const v2 = await before.encrypt(agent, secret);
          await first.close();

          // Process 2 reads both, keeps using data key 2, and rotates the master key.
          const second = await reopen();
          const after = new Keyring({ masterKeys: new MasterKeySet({ k1 }), store: second.store });
          expect((await after.decrypt(v1, Buffer.from('v1'))).equals(secret)).toBe(true);
          expect((await after.decrypt(v2)).equals(secret)).toBe(true);
          expect(after.keyIdOf(await after.encrypt(agent, secret))).toBe(`${agent}/dk/2`);
          expect(await after.rotateMasterKey('k2', k2)).toBe(2);
          await second.close();

          // Process 3 has only the new master key, then shreds the agent.
          const third = await reopen();
          const rotated = new Keyring({ masterKeys: new MasterKeySet({ k2 }), store: third.store });
          expect((await rotated.decrypt(v1, Buffer.from('v1'))).equals(secret)).toBe(true);
          expect(await rotated.destroyAgentKeys(agent)).toBe(2);
          await third.close();

          // Process 4 (any master key) cannot read the agent's data any more.
          const fourth = await reopen();
          const shredded = new Keyring({ masterKeys: new MasterKeySet({ k1, k2 }), store: fourth.store });
          await expect(shredded.decrypt(v1, Buffer.from('v1'))).rejects.toBeInstanceOf(KeyDestroyedError);
          await expect(shredded.decrypt(v2)).rejects.toBeInstanceOf(KeyDestroyedError);
          await expect(shredded.encrypt(agent, secret)).rejects.toBeInstanceOf(KeyDestroyedError);
          expect((await fourth.store.listForInstance(agent)).map((k) => k.wrapped)).toEqual([null, null]);
          await fourth.close();
        } finally {
          for (const h of handles) await h.close(); // after a failure; closing twice is safe
          await own.cleanup?.();
        }
      });
    }
  });
}
