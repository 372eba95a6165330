import { randomBytes } from 'node:crypto';
import { instanceId as checkInstanceId } from '../domain/ids.js';
import { openFrame, readCipherHeader, sealFrame, unwrapKey, wrapKey } from './cipher-frame.js';
import type { DataKeyStore, WrappedDataKey } from '../store/data-keys.js';
import { KeyDestroyedError, KeyError } from './errors.js';
import { KEY_BYTES, type MasterKeySet } from './master-keys.js';

/** Options of {@link Keyring}. */
export interface KeyringOptions {
  masterKeys: MasterKeySet;
  store: DataKeyStore;
  /** Largest plaintext a frame may declare. @default 256 MiB */
  maxPlaintextBytes?: number;
  /** Clock for key timestamps and the clear-key cache. @default Date.now */
  now?: () => number;
  /**
   * How long an unwrapped data key is kept in memory (saves an unwrap per
   * operation). The key record is still read from the store on every call,
   * so a shred by another process takes effect at once. @default 60_000
   */
  cacheTtlMs?: number;
}

/**
 * AES-256-GCM envelope encryption (DESIGN.md Security): each agent has its own
 * data key, stored only wrapped by a master key. Rotating the master key
 * re-wraps data keys and leaves the data alone; rotating a data key makes new
 * writes use a new key while old frames stay readable; destroying an agent's
 * data keys (crypto-shredding) makes every copy of its data, in immutable logs
 * and backups included, unreadable for good.
 */
export class Keyring {
  private masterKeys: MasterKeySet;
  private readonly store: DataKeyStore;
  private readonly maxPlaintextBytes: number;
  private readonly now: () => number;
  /** Unwrapped data keys by key id; dropped on destroy. */
  private readonly clear = new Map<string, { key: Buffer; at: number }>();
  private readonly cacheTtlMs: number;
  /** Per-agent serialisation of key creation and rotation. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(options: KeyringOptions) {
    this.masterKeys = options.masterKeys;
    this.store = options.store;
    this.maxPlaintextBytes = options.maxPlaintextBytes ?? 256 * 1024 * 1024;
    this.now = options.now ?? Date.now;
    this.cacheTtlMs = options.cacheTtlMs ?? 60_000;
  }

  /**
   * Encrypts `plaintext` under the agent's current data key (created on first use).
   * `aad` (e.g. `instanceId:version`) must be given again to decrypt.
   * @throws KeyDestroyedError when the agent was crypto-shredded
   */
  async encrypt(instanceId: string, plaintext: Uint8Array, aad?: Uint8Array): Promise<Buffer> {
    checkInstanceId(instanceId);
    const record = await this.currentKey(instanceId);
    const key = this.unwrap(record);
    return sealFrame(key, record.keyId, Buffer.from(plaintext), aad ? Buffer.from(aad) : undefined);
  }

  /**
   * Decrypts a frame made by {@link encrypt}; the key id comes from the frame.
   * @throws DecodeError (malformed/truncated frame), KeyError (unknown key, wrong master key),
   *   KeyDestroyedError (crypto-shredded), AuthenticationFailedError (tampered or wrong aad)
   */
  async decrypt(frame: Uint8Array, aad?: Uint8Array): Promise<Buffer> {
    const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    const header = readCipherHeader(buf, this.maxPlaintextBytes);
    const record = await this.store.get(header.keyId);
    if (record === undefined) throw new KeyError(`data key ${JSON.stringify(header.keyId)} is unknown to this keyring`);
    return openFrame(this.unwrap(record), buf, header, aad ? Buffer.from(aad) : undefined);
  }

  /** The key id a frame was encrypted with (for audit and re-encryption planning). @throws DecodeError */
  keyIdOf(frame: Uint8Array): string {
    return readCipherHeader(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength), this.maxPlaintextBytes).keyId;
  }

  /**
   * Data-key rotation: creates the agent's next data key; new encryptions use
   * it, old frames keep decrypting with the old versions. Returns the new key id.
   * @throws KeyDestroyedError when the agent was crypto-shredded
   */
  rotateDataKey(instanceId: string): Promise<string> {
    checkInstanceId(instanceId);
    return this.locked(instanceId, async () => {
      const keys = await this.store.listForInstance(instanceId);
      const last = keys.at(-1);
      if (last?.destroyedAt != null) throw new KeyDestroyedError(instanceId);
      return (await this.createKey(instanceId, (last?.version ?? 0) + 1)).keyId;
    });
  }

  /**
   * Master-key rotation: makes `newId` active and re-wraps every data key under
   * it. No data is re-encrypted. Afterwards the old master key can be removed
   * (`masterKeys.without(oldId)`). Returns how many keys were re-wrapped.
   */
  async rotateMasterKey(newId: string, newKey: Buffer): Promise<number> {
    this.masterKeys = this.masterKeys.withActive(newId, newKey);
    return this.rewrapDataKeys();
  }

  /** Re-wraps every live data key not yet under the active master key; returns how many. */
  async rewrapDataKeys(): Promise<number> {
    let count = 0;
    for (const record of await this.store.listAll()) {
      if (record.wrapped === null || record.masterKeyId === this.masterKeys.activeId) continue;
      const dataKey = this.unwrap(record);
      const active = this.masterKeys.activeId;
      const wrapped = wrapKey(this.masterKeys.get(active), dataKey, wrapContext(record.keyId, active));
      if (await this.store.rewrap(record.keyId, record.masterKeyId, active, wrapped)) count++;
    }
    return count;
  }

  /** Replaces the master key set (e.g. after dropping a retired key). */
  setMasterKeys(keys: MasterKeySet): void {
    this.masterKeys = keys;
  }

  /**
   * Crypto-shredding: destroys every data key of the agent. Its data in logs,
   * snapshots and backups becomes unreadable; decrypts throw KeyDestroyedError,
   * and so do new encrypts (an erased agent stays erased). Idempotent.
   * Returns how many keys were destroyed by this call.
   */
  destroyAgentKeys(instanceId: string): Promise<number> {
    checkInstanceId(instanceId);
    return this.locked(instanceId, async () => {
      let count = 0;
      const keys = await this.store.listForInstance(instanceId);
      for (const record of keys) {
        this.clear.get(record.keyId)?.key.fill(0);
        this.clear.delete(record.keyId);
        if (await this.store.destroy(record.keyId, this.now())) count++;
      }
      if (keys.length === 0) {
        // Shred before first use: leave a tombstone so the agent can never get a key again.
        await this.store.create({ keyId: keyIdFor(instanceId, 1), instanceId, version: 1, masterKeyId: this.masterKeys.activeId, wrapped: null, createdAt: this.now(), destroyedAt: this.now() });
      }
      return count;
    });
  }

  private async currentKey(instanceId: string): Promise<WrappedDataKey> {
    const keys = await this.store.listForInstance(instanceId);
    const last = keys.at(-1);
    if (last !== undefined) {
      if (last.destroyedAt !== null) throw new KeyDestroyedError(instanceId);
      return last;
    }
    return this.locked(instanceId, async () => {
      const again = (await this.store.listForInstance(instanceId)).at(-1);
      if (again !== undefined) {
        if (again.destroyedAt !== null) throw new KeyDestroyedError(instanceId);
        return again;
      }
      return this.createKey(instanceId, 1);
    });
  }

  private async createKey(instanceId: string, version: number): Promise<WrappedDataKey> {
    const keyId = keyIdFor(instanceId, version);
    const dataKey = randomBytes(KEY_BYTES);
    const active = this.masterKeys.activeId;
    const stored = await this.store.create({
      keyId,
      instanceId,
      version,
      masterKeyId: active,
      wrapped: wrapKey(this.masterKeys.get(active), dataKey, wrapContext(keyId, active)),
      createdAt: this.now(),
      destroyedAt: null,
    });
    if (stored.destroyedAt !== null) throw new KeyDestroyedError(instanceId);
    return stored;
  }

  private unwrap(record: WrappedDataKey): Buffer {
    if (record.wrapped === null) throw new KeyDestroyedError(record.instanceId, { details: { keyId: record.keyId, destroyedAt: record.destroyedAt } });
    const cached = this.clear.get(record.keyId);
    if (cached !== undefined && this.now() - cached.at < this.cacheTtlMs) return cached.key;
    const master = this.masterKeys.get(record.masterKeyId);
    let key: Buffer;
    try {
      key = unwrapKey(master, record.wrapped, wrapContext(record.keyId, record.masterKeyId));
    } catch (error) {
      throw new KeyError(`master key ${JSON.stringify(record.masterKeyId)} cannot unwrap data key ${JSON.stringify(record.keyId)} (wrong key material or a corrupted key record)`, { cause: error });
    }
    this.clear.set(record.keyId, { key, at: this.now() });
    return key;
  }

  private locked<T>(instanceId: string, run: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(instanceId) ?? Promise.resolve();
    const next = previous.then(run, run);
    const tail = next.catch(() => undefined);
    this.locks.set(instanceId, tail);
    void tail.then(() => {
      if (this.locks.get(instanceId) === tail) this.locks.delete(instanceId);
    });
    return next;
  }
}

/** Data key ids name the agent and the version; `/` cannot occur in instance ids. */
export function keyIdFor(instanceId: string, version: number): string {
  return `${instanceId}/dk/${version}`;
}

/** Wrapping is bound to both key ids, so a wrapped key moved to another record fails to unwrap. */
function wrapContext(keyId: string, masterKeyId: string): string {
  return `agentstate-dk|${keyId}|${masterKeyId}`;
}
