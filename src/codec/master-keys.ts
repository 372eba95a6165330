import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import { KeyError } from './errors.js';

/** What a master key id may be (ids are echoed in errors; an entry that fails this is never echoed). */
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** AES-256 keys are 32 bytes. */
export const KEY_BYTES = 32;

/**
 * Master keys by id, one of them active (used to wrap new data keys). Older
 * ones stay until every data key has been re-wrapped (`Keyring.rewrapDataKeys`).
 * Key material never leaves this object except into node:crypto calls.
 */
export class MasterKeySet {
  private readonly keys: ReadonlyMap<string, Buffer>;
  readonly activeId: string;

  /** @throws ConfigError when a key is not 32 bytes or the active id is missing */
  constructor(keys: ReadonlyMap<string, Buffer> | Record<string, Buffer>, activeId?: string) {
    const map = keys instanceof Map ? new Map(keys) : new Map(Object.entries(keys));
    if (map.size === 0) throw new ConfigError('masterKeys', 'at least one master key is required');
    for (const [id, key] of map) {
      if (!KEY_ID.test(id)) throw new ConfigError(`masterKeys.${id}`, 'key id must be 1-64 of [A-Za-z0-9._-]');
      if (key.length !== KEY_BYTES) throw new ConfigError(`masterKeys.${id}`, `must be ${KEY_BYTES} bytes, got ${key.length}`);
    }
    const active = activeId ?? [...map.keys()].at(-1)!;
    if (!map.has(active)) throw new ConfigError('masterKeys.active', `active key ${JSON.stringify(active)} is not in the keyring`);
    this.keys = map;
    this.activeId = active;
  }

  /** @throws KeyError when `id` is not in the set */
  get(id: string): Buffer {
    const key = this.keys.get(id);
    if (key === undefined) throw new KeyError(`master key ${JSON.stringify(id)} is not in the keyring`);
    return key;
  }

  has(id: string): boolean {
    return this.keys.has(id);
  }

  ids(): string[] {
    return [...this.keys.keys()];
  }

  /** A new set with `id` added and made active (master-key rotation, step 1). */
  withActive(id: string, key: Buffer): MasterKeySet {
    return new MasterKeySet(new Map([...this.keys, [id, key]]), id);
  }

  /** A new set without `id` (rotation, last step, once nothing is wrapped by it). */
  without(id: string): MasterKeySet {
    const map = new Map(this.keys);
    map.delete(id);
    return new MasterKeySet(map, this.activeId === id ? undefined : this.activeId);
  }

  /**
   * Parses `id:base64,id:base64` (the form an env variable carries; the
   * service reads the variable, STYLE.md habit 5). The last key is active
   * unless `activeId` says otherwise.
   * @throws ConfigError naming the bad entry
   */
  static parse(text: string, activeId?: string): MasterKeySet {
    const map = new Map<string, Buffer>();
    const entries = text.split(/[,;\s]+/).filter(Boolean);
    entries.forEach((entry, i) => {
      // Never echo an entry: a malformed one is usually key material pasted wrong.
      const at = entry.indexOf(':');
      if (at <= 0) throw new ConfigError('masterKeys', `entry ${i + 1} of ${entries.length} is not id:base64 (contents not shown)`);
      const id = entry.slice(0, at);
      if (!KEY_ID.test(id)) throw new ConfigError('masterKeys', `entry ${i + 1} of ${entries.length} has an invalid key id (1-64 of [A-Za-z0-9._-]; contents not shown)`);
      map.set(id, decodeKey(entry.slice(at + 1), id));
    });
    return new MasterKeySet(map, activeId);
  }

  /**
   * The master keys an environment names: `AGENTSTATE_MASTER_KEYS_FILE` (a
   * JSON key file, see {@link fromFile}) or `AGENTSTATE_MASTER_KEYS`
   * (`id:base64,...`, see {@link parse}); `undefined` when neither is set
   * (encryption off).
   * @throws ConfigError when both are set or the keys are malformed
   */
  static async fromEnv(env: NodeJS.ProcessEnv): Promise<MasterKeySet | undefined> {
    const file = env.AGENTSTATE_MASTER_KEYS_FILE;
    const inline = env.AGENTSTATE_MASTER_KEYS;
    if (file && inline) throw new ConfigError('AGENTSTATE_MASTER_KEYS', 'set either it or AGENTSTATE_MASTER_KEYS_FILE, not both');
    if (file) return MasterKeySet.fromFile(file);
    if (inline) return MasterKeySet.parse(inline);
    return undefined;
  }

  /**
   * Reads a JSON key file `{"active": "k2", "keys": {"k1": "<base64>", "k2": "<base64>"}}`.
   * @throws ConfigError when the file is missing or malformed
   */
  static async fromFile(path: string): Promise<MasterKeySet> {
    let parsed: { active?: unknown; keys?: unknown };
    try {
      parsed = JSON.parse(await readFile(path, 'utf8')) as typeof parsed;
    } catch (error) {
      // JSON.parse's message quotes the text around the error: key material. Say only what kind of failure it was.
      const why = error instanceof SyntaxError ? 'it is not valid JSON' : ((error as NodeJS.ErrnoException).code ?? 'unreadable');
      throw new ConfigError('masterKeyFile', `cannot read ${path}: ${why}`);
    }
    if (typeof parsed.keys !== 'object' || parsed.keys === null) throw new ConfigError('masterKeyFile', `${path} has no "keys" object`);
    const map = new Map<string, Buffer>();
    for (const [id, value] of Object.entries(parsed.keys as Record<string, unknown>)) {
      if (!KEY_ID.test(id)) throw new ConfigError('masterKeyFile.keys', 'a key id is invalid (1-64 of [A-Za-z0-9._-]; not shown)');
      if (typeof value !== 'string') throw new ConfigError(`masterKeyFile.keys.${id}`, 'must be a base64 string');
      map.set(id, decodeKey(value, id));
    }
    return new MasterKeySet(map, typeof parsed.active === 'string' ? parsed.active : undefined);
  }
}

function decodeKey(base64: string, id: string): Buffer {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw new ConfigError(`masterKeys.${id}`, 'is not base64');
  return Buffer.from(base64, 'base64');
}
