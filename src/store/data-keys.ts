// The data-key store port (wrapped keys by id; crypto-shredding tombstones) and its in-memory adapter.
// Durable adapters: ./mongo/data-keys.ts and ./sqlite/data-keys.ts. The Keyring (src/codec) depends on the port.
import { InvalidInputError } from '../errors.js';
/**
 * One agent's data key, as stored: wrapped (encrypted) by a master key, never
 * in clear. `wrapped` is null once destroyed (crypto-shredding); the record
 * stays as a tombstone so decrypts fail with KeyDestroyedError, not "unknown key".
 */
export interface WrappedDataKey {
  /** `<instanceId>/dk/<version>`: written into every ciphertext frame. */
  keyId: string;
  instanceId: string;
  /** 1, 2, ...: data-key rotation creates the next one. */
  version: number;
  masterKeyId: string;
  wrapped: Buffer | null;
  createdAt: number;
  destroyedAt: number | null;
}

/**
 * Where wrapped data keys live. A production store keeps them in a database
 * (MongoDB), apart from the data they protect; {@link InMemoryDataKeyStore}
 * serves tests and the embedded profile.
 */
export interface DataKeyStore {
  get(keyId: string): Promise<WrappedDataKey | undefined>;
  /** All versions of one agent's keys, oldest first. */
  listForInstance(instanceId: string): Promise<WrappedDataKey[]>;
  /** Every key (for master-key re-wrapping). */
  listAll(): Promise<WrappedDataKey[]>;
  /** Stores a new key unless one with the same keyId exists; returns the stored one (first writer wins). */
  create(key: WrappedDataKey): Promise<WrappedDataKey>;
  /**
   * Master-key rotation: stores `wrapped` under `toMasterKeyId` only if the key
   * is still live and still wrapped by `fromMasterKeyId` (a compare-and-set, so
   * a re-wrap racing a shred can never bring a destroyed key back). Returns
   * whether it replaced the key.
   */
  rewrap(keyId: string, fromMasterKeyId: string, toMasterKeyId: string, wrapped: Buffer): Promise<boolean>;
  /** Crypto-shredding: drops the wrapped material for good, keeps the record as a tombstone. Returns false if already destroyed. */
  destroy(keyId: string, at: number): Promise<boolean>;
}

/**
 * What every adapter refuses in `create`, the same way (the contract suite
 * checks it): a record that could never be read back as a usable key.
 * @throws InvalidInputError naming the field
 */
export function checkDataKey(key: WrappedDataKey): void {
  const bad = (field: string, problem: string): never => {
    throw new InvalidInputError(`WrappedDataKey.${field}`, problem);
  };
  if (typeof key.keyId !== 'string' || key.keyId === '') bad('keyId', 'must be a non-empty string');
  if (typeof key.instanceId !== 'string' || key.instanceId === '') bad('instanceId', 'must be a non-empty string');
  if (!Number.isSafeInteger(key.version) || key.version < 1) bad('version', 'must be a whole number >= 1');
  if (typeof key.masterKeyId !== 'string' || key.masterKeyId === '') bad('masterKeyId', 'must be a non-empty string');
  // A tombstone may be created (an agent shredded before its first key), but then it says when.
  if (key.wrapped === null) {
    if (!Number.isSafeInteger(key.destroyedAt)) bad('destroyedAt', 'must be set when wrapped is null (a tombstone)');
  } else if (!Buffer.isBuffer(key.wrapped) || key.wrapped.length === 0) bad('wrapped', 'must hold the wrapped key bytes, or be null for a tombstone');
}

/** A {@link DataKeyStore} in process memory. */
export class InMemoryDataKeyStore implements DataKeyStore {
  private readonly keys = new Map<string, WrappedDataKey>();

  async get(keyId: string): Promise<WrappedDataKey | undefined> {
    const key = this.keys.get(keyId);
    return key && { ...key };
  }

  async listForInstance(instanceId: string): Promise<WrappedDataKey[]> {
    return [...this.keys.values()]
      .filter((k) => k.instanceId === instanceId)
      .sort((a, b) => a.version - b.version)
      .map((k) => ({ ...k }));
  }

  async listAll(): Promise<WrappedDataKey[]> {
    return [...this.keys.values()].map((k) => ({ ...k }));
  }

  async create(key: WrappedDataKey): Promise<WrappedDataKey> {
    checkDataKey(key);
    const existing = this.keys.get(key.keyId);
    if (existing) return { ...existing };
    this.keys.set(key.keyId, { ...key });
    return { ...key };
  }

  async rewrap(keyId: string, fromMasterKeyId: string, toMasterKeyId: string, wrapped: Buffer): Promise<boolean> {
    const key = this.keys.get(keyId);
    if (key === undefined || key.wrapped === null || key.masterKeyId !== fromMasterKeyId) return false;
    this.keys.set(keyId, { ...key, masterKeyId: toMasterKeyId, wrapped });
    return true;
  }

  async destroy(keyId: string, at: number): Promise<boolean> {
    const key = this.keys.get(keyId);
    if (key === undefined || key.wrapped === null) return false;
    this.keys.set(keyId, { ...key, wrapped: null, destroyedAt: at });
    return true;
  }
}
