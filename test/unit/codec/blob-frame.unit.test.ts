import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { describeBlob, openBlob, openState, sealState } from '../../../src/codec/blob-frame.js';
import { InMemoryDataKeyStore } from '../../../src/store/data-keys.js';
import { DecodeError, KeyDestroyedError } from '../../../src/codec/errors.js';
import { Keyring } from '../../../src/codec/keyring.js';
import { MasterKeySet } from '../../../src/codec/master-keys.js';
import { generateState } from '../../../src/corpus/generate.js';
import { checksum, sha256Hex } from '../../../src/domain/checksum.js';
import { canonicalJson } from '../../../src/domain/json.js';
import { stateAsJson } from '../../../src/domain/state.js';

const state = stateAsJson(generateState({ seed: 5, targetBytes: 40_000 }));

describe('sealed blobs (snapshot and backup bodies)', () => {
  it('compressed only: self-describing, opens without keys', async () => {
    const blob = await sealState(state, { algorithm: 'gzip' });
    const info = describeBlob(blob);
    expect(info).toMatchObject({ encrypted: false, keyId: null, compression: { algorithm: 'gzip', checksum: sha256Hex(canonicalJson(state)) } }); // the frame's byte checksum, not the state's hash tree
    expect(checksum(await openState(blob))).toBe(checksum(state));
  });

  it('compressed then encrypted: names its key, needs the keyring, dies with the agent', async () => {
    const keyring = new Keyring({ masterKeys: new MasterKeySet({ m: randomBytes(32) }), store: new InMemoryDataKeyStore() });
    const blob = await sealState(state, { algorithm: 'lz4', encryptFor: { keyring, instanceId: 'agent-5' } });
    expect(describeBlob(blob, (f) => keyring.keyIdOf(f))).toEqual({ encrypted: true, keyId: 'agent-5/dk/1', compression: null });
    await expect(openBlob(blob)).rejects.toThrow(/encrypted and no keyring/);
    expect(checksum(await openState(blob, { keyring }))).toBe(checksum(state));
    await keyring.destroyAgentKeys('agent-5');
    await expect(openState(blob, { keyring })).rejects.toBeInstanceOf(KeyDestroyedError);
  });

  it('refuses bytes that are neither frame', () => {
    expect(() => describeBlob(Buffer.from('{"a":1}'))).toThrow(DecodeError);
  });
});
