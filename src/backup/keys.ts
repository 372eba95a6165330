import type { BlobStore } from '../blob/port.js';
import { parseJson } from '../domain/json.js';
import type { DataKeyStore, WrappedDataKey } from '../store/data-keys.js';

/**
 * The data keys' part of a backup (issue 14, docs/backup.md "Data keys and
 * the shred list"). A backup whose values (or whose referenced snapshot
 * bodies) are encrypted is useless after a disaster without the agents' data
 * keys, so the backup holds them: **wrapped** by a master key exactly as the
 * DataKeyStore port holds them, never in clear (a restore still needs the
 * master keys, which live apart: file, env or KMS).
 *
 * Crypto-shredding must survive a restore: once an agent's key is destroyed
 * its wrapped key is deleted from the backup and the agent goes on the
 * **shred list**; a restore writes a tombstone for every key on that list and
 * never brings back a wrapped key of a listed agent, even one an older
 * backup object still holds.
 *
 * Layout: `backup/keys/live/<keyId>` (one JSON object per live key,
 * overwritten when a master-key rotation re-wraps it) and
 * `backup/keys/shredded/<instanceId>` (one JSON object per erased agent).
 */
export const KEYS_LIVE_PREFIX = 'backup/keys/live/';
export const KEYS_SHREDDED_PREFIX = 'backup/keys/shredded/';
const KEY_FORMAT = 'agentstate.backup.datakey/1';
const SHRED_FORMAT = 'agentstate.backup.shred/1';

export const liveKeyKey = (keyId: string): string => `${KEYS_LIVE_PREFIX}${encodeURIComponent(keyId)}`;
export const shredKey = (instanceId: string): string => `${KEYS_SHREDDED_PREFIX}${encodeURIComponent(instanceId)}`;

interface ArchivedKey {
  format: typeof KEY_FORMAT;
  keyId: string;
  instanceId: string;
  version: number;
  masterKeyId: string;
  /** The wrapped key bytes, base64 (ciphertext under the master key). */
  wrapped: string;
  createdAt: number;
}

/** One entry of the shred list. */
export interface ShredEntry {
  format: typeof SHRED_FORMAT;
  instanceId: string;
  /** Every key id the agent had (each comes back as a tombstone). */
  keyIds: string[];
  /** Master key id of the tombstones (the store's records need one). */
  masterKeyId: string;
  destroyedAt: number;
}

/**
 * Archive side: keeps the backup's copy of the data keys in step with the
 * store. {@link ensure} runs before a segment that names the agents is
 * written (so a segment never depends on a key the backup lacks);
 * {@link sync} runs on the backup service's tick (every `keysSyncMs`) and
 * carries rotations and shreds over.
 */
export class KeyArchive {
  /** keyId → masterKeyId of the copy in the backup. */
  private readonly archived = new Map<string, string>();
  private readonly shredded = new Set<string>();
  private readonly seen = new Set<string>();

  constructor(
    private readonly blobs: BlobStore,
    private readonly store: DataKeyStore,
  ) {}

  /**
   * Archives the keys a segment's values use: for each agent, the key id its
   * values name (re-read when the backup lacks that id: a new or rotated key),
   * or, without one, its keys if the agent was not met before.
   */
  async ensure(uses: Iterable<readonly [instanceId: string, keyId: string | undefined]>): Promise<void> {
    for (const [id, keyId] of uses) {
      if (this.shredded.has(id)) continue;
      if (keyId !== undefined ? this.archived.has(keyId) : this.seen.has(id)) continue;
      await this.apply(id, await this.store.listForInstance(id));
      this.seen.add(id);
    }
  }

  /** Compares every key in the store with the backup's copy: new and re-wrapped keys are written, shreds recorded. */
  async sync(): Promise<{ keys: number; shredded: number }> {
    const byAgent = new Map<string, WrappedDataKey[]>();
    for (const k of await this.store.listAll()) {
      const list = byAgent.get(k.instanceId) ?? [];
      list.push(k);
      byAgent.set(k.instanceId, list);
    }
    for (const [id, keys] of byAgent) {
      await this.apply(id, keys);
      this.seen.add(id);
    }
    return { keys: this.archived.size, shredded: this.shredded.size };
  }

  private async apply(instanceId: string, keys: WrappedDataKey[]): Promise<void> {
    if (keys.length === 0 || this.shredded.has(instanceId)) return;
    if (keys.some((k) => k.wrapped === null)) return this.shred(instanceId, keys);
    for (const k of keys) {
      if (this.archived.get(k.keyId) === k.masterKeyId) continue;
      const doc: ArchivedKey = { format: KEY_FORMAT, keyId: k.keyId, instanceId, version: k.version, masterKeyId: k.masterKeyId, wrapped: k.wrapped!.toString('base64'), createdAt: k.createdAt };
      await this.blobs.put(liveKeyKey(k.keyId), Buffer.from(JSON.stringify(doc)), { contentType: 'application/json' });
      // A shred between our read and our put must not leave its key in the backup.
      const now = await this.store.get(k.keyId);
      if (!now || now.wrapped === null) return this.shred(instanceId, await this.store.listForInstance(instanceId));
      this.archived.set(k.keyId, k.masterKeyId);
    }
  }

  /** Writes the shred entry first (so a restore honours it even if the deletes below fail), then deletes the wrapped copies. */
  private async shred(instanceId: string, keys: WrappedDataKey[]): Promise<void> {
    const destroyedAt = Math.max(0, ...keys.map((k) => k.destroyedAt ?? 0));
    const entry: ShredEntry = { format: SHRED_FORMAT, instanceId, keyIds: keys.map((k) => k.keyId), masterKeyId: keys[0]!.masterKeyId, destroyedAt };
    await this.blobs.put(shredKey(instanceId), Buffer.from(JSON.stringify(entry)), { contentType: 'application/json' });
    for (const k of keys) {
      await this.blobs.delete(liveKeyKey(k.keyId));
      this.archived.delete(k.keyId);
    }
    this.shredded.add(instanceId);
  }
}

/** The shred list of a backup, by instance id. */
export async function readShredList(blobs: BlobStore): Promise<Map<string, ShredEntry>> {
  const out = new Map<string, ShredEntry>();
  for await (const info of blobs.list(KEYS_SHREDDED_PREFIX)) {
    const bytes = await blobs.get(info.key);
    if (!bytes) continue;
    const e = parseJson(bytes.toString('utf8'), info.key) as unknown as ShredEntry;
    if (e.format === SHRED_FORMAT) out.set(e.instanceId, e);
  }
  return out;
}

export interface KeysRestoreReport {
  /** Wrapped keys written into the target store. */
  restored: number;
  /** Agents on the shred list (tombstones written, no key brought back). */
  shreddedAgents: number;
  /** Wrapped keys the backup still held for a shredded agent and that were left out. */
  withheld: number;
}

/**
 * Restore side: writes the backup's wrapped keys into the target's
 * DataKeyStore, after a tombstone for every key of every agent on the shred
 * list; a key of a listed agent is never written (and destroyed if the
 * target somehow holds it). Idempotent (create is first-writer-wins).
 */
export async function restoreKeys(blobs: BlobStore, target: DataKeyStore): Promise<KeysRestoreReport> {
  const shreds = await readShredList(blobs);
  const report: KeysRestoreReport = { restored: 0, shreddedAgents: shreds.size, withheld: 0 };
  for (const e of shreds.values()) {
    for (const keyId of e.keyIds) {
      const version = Number(/\/dk\/(\d+)$/.exec(keyId)?.[1] ?? '1');
      const stored = await target.create({ keyId, instanceId: e.instanceId, version, masterKeyId: e.masterKeyId, wrapped: null, createdAt: e.destroyedAt, destroyedAt: e.destroyedAt });
      if (stored.wrapped !== null) await target.destroy(keyId, e.destroyedAt);
    }
  }
  for await (const info of blobs.list(KEYS_LIVE_PREFIX)) {
    const bytes = await blobs.get(info.key);
    if (!bytes) continue;
    const k = parseJson(bytes.toString('utf8'), info.key) as unknown as ArchivedKey;
    if (k.format !== KEY_FORMAT) continue;
    if (shreds.has(k.instanceId)) {
      report.withheld++;
      continue;
    }
    await target.create({ keyId: k.keyId, instanceId: k.instanceId, version: k.version, masterKeyId: k.masterKeyId, wrapped: Buffer.from(k.wrapped, 'base64'), createdAt: k.createdAt, destroyedAt: null });
    report.restored++;
  }
  return report;
}
