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
  /** Replaces an existing key (re-wrap, destroy). */
  replace(key: WrappedDataKey): Promise<void>;
}

/** A {@link DataKeyStore} in process memory. */
export class InMemoryDataKeyStore implements DataKeyStore {
  private readonly keys = new Map<string, WrappedDataKey>();

  async get(keyId: string): Promise<WrappedDataKey | undefined> {
    const key = this.keys.get(keyId);
    return key && { ...key };
  }

  async listForInstance(instanceId: string): Promise<WrappedDataKey[]> {
    return [...this.keys.values()].filter((k) => k.instanceId === instanceId).sort((a, b) => a.version - b.version).map((k) => ({ ...k }));
  }

  async listAll(): Promise<WrappedDataKey[]> {
    return [...this.keys.values()].map((k) => ({ ...k }));
  }

  async create(key: WrappedDataKey): Promise<WrappedDataKey> {
    const existing = this.keys.get(key.keyId);
    if (existing) return { ...existing };
    this.keys.set(key.keyId, { ...key });
    return { ...key };
  }

  async replace(key: WrappedDataKey): Promise<void> {
    this.keys.set(key.keyId, { ...key });
  }
}
