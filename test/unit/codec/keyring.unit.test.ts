import { mkdtempSync, writeFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InMemoryDataKeyStore } from '../../../src/store/data-keys.js';
import { AuthenticationFailedError, DecodeError, KeyDestroyedError, KeyError } from '../../../src/codec/errors.js';
import { Keyring } from '../../../src/codec/keyring.js';
import { MasterKeySet } from '../../../src/codec/master-keys.js';
import { ConfigError } from '../../../src/errors.js';
import { TooLargeError } from '../../../src/domain/errors.js';

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const secret = Buffer.from('{"memory":{"conversation":["my card number is 4111 1111 1111 1111"]}}');

function setup() {
  const store = new InMemoryDataKeyStore();
  const keyring = new Keyring({ masterKeys: new MasterKeySet({ k1 }), store });
  return { store, keyring };
}

describe('Keyring envelope encryption', () => {
  it('round-trips, never stores the plaintext, and uses a fresh IV each time', async () => {
    const { keyring } = setup();
    const a = await keyring.encrypt('agent-1', secret);
    const b = await keyring.encrypt('agent-1', secret);
    expect(a.includes(Buffer.from('4111'))).toBe(false);
    expect(a.equals(b)).toBe(false);
    expect((await keyring.decrypt(a)).equals(secret)).toBe(true);
    expect(keyring.keyIdOf(a)).toBe('agent-1/dk/1');
  });

  it('gives each agent its own data key', async () => {
    const { keyring, store } = setup();
    await keyring.encrypt('agent-1', secret);
    await keyring.encrypt('agent-2', secret);
    const keys = await store.listAll();
    expect(keys.map((k) => k.keyId).sort()).toEqual(['agent-1/dk/1', 'agent-2/dk/1']);
    expect(keys[0]!.wrapped!.equals(keys[1]!.wrapped!)).toBe(false);
  });

  it('creates one key when many encrypts race for a new agent', async () => {
    const { keyring, store } = setup();
    const frames = await Promise.all(Array.from({ length: 20 }, () => keyring.encrypt('agent-9', secret)));
    expect((await store.listForInstance('agent-9')).length).toBe(1);
    for (const f of frames) expect((await keyring.decrypt(f)).equals(secret)).toBe(true);
  });

  it('binds associated data: decrypting with other aad fails', async () => {
    const { keyring } = setup();
    const frame = await keyring.encrypt('agent-1', secret, Buffer.from('agent-1:v7'));
    expect((await keyring.decrypt(frame, Buffer.from('agent-1:v7'))).equals(secret)).toBe(true);
    await expect(keyring.decrypt(frame, Buffer.from('agent-1:v8'))).rejects.toBeInstanceOf(AuthenticationFailedError);
  });

  it('master-key rotation re-wraps data keys without re-encrypting data; the old master can then go', async () => {
    const { keyring, store } = setup();
    const old = await keyring.encrypt('agent-1', secret);
    await keyring.encrypt('agent-2', secret);
    expect(await keyring.rotateMasterKey('k2', k2)).toBe(2);
    expect((await store.listAll()).every((k) => k.masterKeyId === 'k2')).toBe(true);
    // A new process that only has k2 reads the frame written before the rotation, byte for byte unchanged.
    const fresh = new Keyring({ masterKeys: new MasterKeySet({ k2 }), store });
    expect((await fresh.decrypt(old)).equals(secret)).toBe(true);
    expect(await keyring.rewrapDataKeys()).toBe(0);
  });

  it('data-key rotation: new writes use the new key, old frames still decrypt', async () => {
    const { keyring } = setup();
    const before = await keyring.encrypt('agent-1', secret);
    expect(await keyring.rotateDataKey('agent-1')).toBe('agent-1/dk/2');
    const after = await keyring.encrypt('agent-1', secret);
    expect(keyring.keyIdOf(after)).toBe('agent-1/dk/2');
    expect((await keyring.decrypt(before)).equals(secret)).toBe(true);
    expect((await keyring.decrypt(after)).equals(secret)).toBe(true);
  });

  it('crypto-shredding makes every frame of the agent unreadable with KeyDestroyedError, and only that agent', async () => {
    const { keyring, store } = setup();
    const v1 = await keyring.encrypt('agent-1', secret);
    await keyring.rotateDataKey('agent-1');
    const v2 = await keyring.encrypt('agent-1', secret);
    const other = await keyring.encrypt('agent-2', secret);
    expect(await keyring.destroyAgentKeys('agent-1')).toBe(2);
    expect(await keyring.destroyAgentKeys('agent-1')).toBe(0);
    await expect(keyring.decrypt(v1)).rejects.toBeInstanceOf(KeyDestroyedError);
    await expect(keyring.decrypt(v2)).rejects.toThrow(/agent-1.*destroyed/);
    await expect(keyring.encrypt('agent-1', secret)).rejects.toBeInstanceOf(KeyDestroyedError);
    await expect(keyring.rotateDataKey('agent-1')).rejects.toBeInstanceOf(KeyDestroyedError);
    // Another process sharing the store sees the shred at once.
    await expect(new Keyring({ masterKeys: new MasterKeySet({ k1 }), store }).decrypt(v1)).rejects.toBeInstanceOf(KeyDestroyedError);
    expect((await keyring.decrypt(other)).equals(secret)).toBe(true);
    expect((await store.listForInstance('agent-1')).every((k) => k.wrapped === null)).toBe(true);
  });

  it('a master-key re-wrap racing a shred never brings the destroyed key back', async () => {
    const { keyring, store } = setup();
    const frame = await keyring.encrypt('agent-1', secret);
    // The re-wrapping process lists the keys, then the shred lands before it writes.
    const racing: typeof store = Object.assign(Object.create(store) as typeof store, {
      listAll: async () => {
        const snapshot = await store.listAll();
        await keyring.destroyAgentKeys('agent-1');
        return snapshot;
      },
    });
    const rotator = new Keyring({ masterKeys: new MasterKeySet({ k1, k2 }, 'k2'), store: racing });
    expect(await rotator.rewrapDataKeys()).toBe(0);
    await expect(rotator.decrypt(frame)).rejects.toBeInstanceOf(KeyDestroyedError);
    expect((await store.get('agent-1/dk/1'))?.wrapped).toBeNull();
  });

  it('an agent shredded before its first write can never get a key', async () => {
    const { keyring } = setup();
    await keyring.destroyAgentKeys('agent-3');
    await expect(keyring.encrypt('agent-3', secret)).rejects.toBeInstanceOf(KeyDestroyedError);
  });

  it('wrong master key material → KeyError; missing master key → KeyError', async () => {
    const { keyring, store } = setup();
    const frame = await keyring.encrypt('agent-1', secret);
    await expect(new Keyring({ masterKeys: new MasterKeySet({ k1: k2 }), store }).decrypt(frame)).rejects.toBeInstanceOf(KeyError);
    await expect(new Keyring({ masterKeys: new MasterKeySet({ k2 }), store }).decrypt(frame)).rejects.toThrow(/master key "k1" is not in the keyring/);
    await expect(new Keyring({ masterKeys: new MasterKeySet({ k1 }), store: new InMemoryDataKeyStore() }).decrypt(frame)).rejects.toThrow(/data key "agent-1\/dk\/1" is unknown/);
  });

  it('tampered, truncated and oversize frames → typed errors, never garbage', async () => {
    const { keyring } = setup();
    const frame = await keyring.encrypt('agent-1', secret);
    for (const at of [10, frame.length - 30, frame.length - 1]) {
      const bad = Buffer.from(frame);
      bad[at]! ^= 1;
      await expect(keyring.decrypt(bad)).rejects.toSatisfy((e) => e instanceof AuthenticationFailedError || e instanceof KeyError);
    }
    await expect(keyring.decrypt(frame.subarray(0, frame.length - 1))).rejects.toBeInstanceOf(DecodeError);
    await expect(keyring.decrypt(frame.subarray(0, 6))).rejects.toThrow(/shorter than the 8-byte prefix/);
    const big = Buffer.from(frame);
    big.writeBigUInt64BE(2n ** 50n, 8 + 'agent-1/dk/1'.length + 12);
    await expect(keyring.decrypt(big)).rejects.toBeInstanceOf(TooLargeError);
  });

  it('fuzz: random and mutated frames only ever throw typed errors or return the exact plaintext', async () => {
    const { keyring } = setup();
    const frame = await keyring.encrypt('agent-1', secret);
    const typed = (e: unknown) => e instanceof DecodeError || e instanceof AuthenticationFailedError || e instanceof KeyError || e instanceof TooLargeError;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((edits) => {
            const f = Buffer.from(frame);
            for (const [at, v] of edits) f[at % f.length] = v;
            return f;
          }),
        ),
        async (input) => {
          try {
            return (await keyring.decrypt(input)).equals(secret);
          } catch (error) {
            return typed(error);
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('MasterKeySet', () => {
  it('parses an env string, last key active unless told', () => {
    const text = `k1:${k1.toString('base64')},k2:${k2.toString('base64')}`;
    expect(MasterKeySet.parse(text).activeId).toBe('k2');
    expect(MasterKeySet.parse(text, 'k1').activeId).toBe('k1');
    expect(MasterKeySet.parse(text).get('k1').equals(k1)).toBe(true);
  });

  it('reads a key file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keys-'));
    const file = join(dir, 'keys.json');
    await writeFile(file, JSON.stringify({ active: 'k1', keys: { k1: k1.toString('base64'), k2: k2.toString('base64') } }));
    const set = await MasterKeySet.fromFile(file);
    expect(set.activeId).toBe('k1');
    expect(set.ids()).toEqual(['k1', 'k2']);
  });

  it('refuses bad keys at start-up, naming the key', async () => {
    expect(() => MasterKeySet.parse(`k1:${randomBytes(16).toString('base64')}`)).toThrow(/masterKeys\.k1: must be 32 bytes, got 16/);
    expect(() => MasterKeySet.parse('k1:not base64!!')).toThrow(ConfigError);
    expect(() => MasterKeySet.parse(`k1:${k1.toString('base64')}`, 'k9')).toThrow(/active key "k9" is not in the keyring/);
    await expect(MasterKeySet.fromFile('/nonexistent/keys.json')).rejects.toBeInstanceOf(ConfigError);
  });

  it('never echoes key material in an error', async () => {
    const secret = randomBytes(32).toString('base64');
    const messages: string[] = [];
    const grab = async (fn: () => unknown): Promise<void> => {
      try {
        await fn();
        messages.push('(no error)');
      } catch (e) {
        messages.push(String((e as Error).message));
      }
    };
    await grab(() => MasterKeySet.parse(secret)); // the id forgotten
    await grab(() => MasterKeySet.parse(`+${secret.slice(0, 20)}:${secret}`)); // an id that is not one
    await grab(() => MasterKeySet.parse(`k1:${secret}!`));
    const dir = mkdtempSync(join(tmpdir(), 'mk-'));
    const file = join(dir, 'keys.json');
    writeFileSync(file, `{"keys": {"k1": ${secret}}}`); // unquoted: not JSON
    await grab(() => MasterKeySet.fromFile(file));
    writeFileSync(file, JSON.stringify({ keys: { [secret]: secret } }));
    await grab(() => MasterKeySet.fromFile(file));
    expect(messages).not.toContain('(no error)');
    for (const m of messages) {
      for (let i = 0; i + 8 <= secret.length; i += 4) expect(m, m).not.toContain(secret.slice(i, i + 8));
    }
  });
});
