import type { BlobStore } from '../blob/port.js';
import { openBlob } from '../codec/blob-frame.js';
import { DecodeError, KeyDestroyedError } from '../codec/errors.js';
import type { Keyring } from '../codec/keyring.js';
import { parseJson, type JsonValue } from '../domain/json.js';
import { step, type Projection } from '../domain/reducer.js';
import type { StateEvent } from '../domain/event.js';
import { AgentStateError, KeyError } from '../errors.js';
import { BACKUP_ROOT, listManifestVersions, openManifest } from './manifest.js';

/**
 * Checkpoints (docs/backup.md "Checkpoints"): per partition, at the end of
 * one manifest version, every agent's state folded from the backup: version,
 * epoch, checksum and the state itself (encrypted under the agent's data key
 * when the backup is encrypted). A restore, `restore --agent` and `verify`
 * can start from the oldest checkpoint instead of the partition's first
 * segment, which is what lets the retention delete the segments it covers.
 *
 * A checkpoint is immutable and named from the manifest version it ends at:
 * `backup/events/<partition>/checkpoints/<manifest version:12>`, written
 * create-only; it records the SHA-256 of that manifest version's stored
 * bytes, so it is bound to the manifest hash chain (version + 1 names the
 * same SHA-256 as `previous`).
 */
export const CHECKPOINT_FORMAT = 'agentstate.backup.checkpoint/1';

/** The prefix of a partition's checkpoints. */
export const checkpointPrefix = (partition: number): string => `${BACKUP_ROOT}/${partition}/checkpoints/`;

/** `backup/events/<partition>/checkpoints/<manifest version:12>`. */
export const checkpointKey = (partition: number, manifestVersion: number): string => `${checkpointPrefix(partition)}${String(manifestVersion).padStart(12, '0')}`;

/** What a restore needs of an agent besides its state (the `agent_states` row's other fields). */
export interface AgentMeta {
  /** Timestamp (ms) of the agent's first accepted event. */
  createdAt: number;
  /** Timestamp (ms) of its last accepted event. */
  updatedAt: number;
  lastEventId: string;
  lastEventType: string;
  /** The `source` of the last accepted event. */
  modifiedBy: string;
}

/** One agent in a checkpoint. */
export interface AgentCheckpoint extends AgentMeta {
  version: number;
  epoch: number;
  checksum: string;
  /** The highest event version the backup holds for the agent up to here, accepted or not (verify's version-gap check continues from it). */
  head: number;
  /**
   * The state: `plain` (the JSON itself), `encrypted` (base64 of an
   * AES-256-GCM frame of the state's JSON under the agent's data key, with
   * `<checkpoint key> NUL <instanceId>` as associated data), or `shredded`
   * (the agent's key was destroyed: nothing kept).
   */
  body: { kind: 'plain'; state: JsonValue } | { kind: 'encrypted'; frame: string } | { kind: 'shredded' };
}

/** A checkpoint object's JSON document. */
export interface Checkpoint {
  format: typeof CHECKPOINT_FORMAT;
  topic: string;
  partition: number;
  partitions: number;
  /** The manifest version it ends at: every record of versions 1..manifestVersion is folded in. */
  manifestVersion: number;
  /** SHA-256 hex of that manifest version's stored bytes. */
  manifestSha256: string;
  /** The next offset after the checkpoint (= that version's `nextOffset`). */
  nextOffset: string;
  /** Largest record timestamp (ms) of the offsets covered: a point in time at or after it can start from the checkpoint. */
  maxTimestamp: number;
  /** Agents, by instanceId. */
  agents: Record<string, AgentCheckpoint>;
  writtenAt: number;
}

/** One agent's fold state while walking a partition. */
export interface FoldedAgent {
  projection?: Projection;
  meta?: AgentMeta;
  head: number;
  shredded: boolean;
  /** Encrypted in the checkpoint and no keyring given (verify without keys). */
  locked?: boolean;
}

/** Folds a partition's records: what a checkpoint records and what a restore from one continues. */
export class PartitionFold {
  readonly agents = new Map<string, FoldedAgent>();
  maxTimestamp = 0;

  private agent(id: string): FoldedAgent {
    let a = this.agents.get(id);
    if (!a) this.agents.set(id, (a = { head: 0, shredded: false }));
    return a;
  }

  /** Seeds the fold from a checkpoint's agents (decrypted with {@link checkpointAgents}). */
  seed(cp: Checkpoint, opened: Map<string, FoldedAgent>): void {
    this.maxTimestamp = Math.max(this.maxTimestamp, cp.maxTimestamp);
    for (const [id, a] of opened) this.agents.set(id, { ...a });
  }

  /** One event, accepted or rejected by the reducer as the projector would. */
  event(e: StateEvent, timestamp: number): void {
    this.maxTimestamp = Math.max(this.maxTimestamp, timestamp);
    const a = this.agent(e.instanceId);
    if (e.version > a.head) a.head = e.version;
    const out = step(a.projection, e);
    if (!out.accept) return;
    a.projection = out.projection;
    a.meta = { createdAt: a.meta?.createdAt ?? e.timestamp, updatedAt: e.timestamp, lastEventId: e.eventId, lastEventType: e.eventType, modifiedBy: e.source };
  }

  /** A record whose value is withheld or whose key is destroyed: its agent is shredded. */
  shred(id: string, timestamp: number): void {
    this.maxTimestamp = Math.max(this.maxTimestamp, timestamp);
    const a = this.agent(id);
    a.shredded = true;
    delete a.projection;
    delete a.meta;
  }

  /** Any other record (tombstone, undecodable). */
  other(timestamp: number): void {
    this.maxTimestamp = Math.max(this.maxTimestamp, timestamp);
  }
}

export const checkpointAad = (key: string, instanceId: string): Buffer => Buffer.from(`${key}\u0000${instanceId}`, 'utf8');

/** Opens and checks a stored checkpoint. @throws DecodeError, ChecksumMismatchError */
export async function openCheckpoint(bytes: Uint8Array, key: string): Promise<Checkpoint> {
  const cp = parseJson((await openBlob(bytes, { maxOriginalBytes: 1024 * 1024 * 1024 })).toString('utf8'), `checkpoint ${key}`) as unknown as Checkpoint;
  if (cp === null || typeof cp !== 'object' || cp.format !== CHECKPOINT_FORMAT) throw new DecodeError(`checkpoint ${key}`, `not an ${CHECKPOINT_FORMAT} document`);
  if (!Number.isSafeInteger(cp.manifestVersion) || typeof cp.nextOffset !== 'string' || typeof cp.manifestSha256 !== 'string' || typeof cp.agents !== 'object') {
    throw new DecodeError(`checkpoint ${key}`, 'missing manifestVersion, manifestSha256, nextOffset or agents');
  }
  if (key !== checkpointKey(cp.partition, cp.manifestVersion)) throw new DecodeError(`checkpoint ${key}`, `declares partition ${cp.partition} manifest version ${cp.manifestVersion}`);
  return cp;
}

/**
 * A checkpoint's agents as fold state: encrypted states decrypted with
 * `keyring`; an agent whose key has been destroyed since (crypto-shredded)
 * comes back `shredded`, its state unreadable.
 * @throws KeyError when a state is encrypted and no keyring is given (unless `lenient`: the agent is then `locked`); AuthenticationFailedError when one does not decrypt
 */
export async function checkpointAgents(cp: Checkpoint, keyring: Keyring | undefined, options: { lenient?: boolean } = {}): Promise<Map<string, FoldedAgent>> {
  const key = checkpointKey(cp.partition, cp.manifestVersion);
  const out = new Map<string, FoldedAgent>();
  for (const [id, a] of Object.entries(cp.agents)) {
    const meta: AgentMeta = { createdAt: a.createdAt, updatedAt: a.updatedAt, lastEventId: a.lastEventId, lastEventType: a.lastEventType, modifiedBy: a.modifiedBy };
    let state: JsonValue;
    if (a.body.kind === 'shredded') {
      out.set(id, { head: a.head, shredded: true });
      continue;
    } else if (a.body.kind === 'plain') {
      state = a.body.state;
    } else {
      if (!keyring && options.lenient) {
        out.set(id, { head: a.head, shredded: false, locked: true });
        continue;
      }
      if (!keyring) throw new KeyError(`checkpoint ${key} holds encrypted states: the master keys (AGENTSTATE_MASTER_KEYS[_FILE]) and data keys are needed`);
      try {
        state = parseJson((await keyring.decrypt(Buffer.from(a.body.frame, 'base64'), checkpointAad(key, id))).toString('utf8'), `checkpoint ${key} agent ${id}`);
      } catch (err) {
        if (!(err instanceof KeyDestroyedError)) throw err;
        out.set(id, { head: a.head, shredded: true });
        continue;
      }
    }
    out.set(id, { head: a.head, shredded: false, meta, projection: { version: a.version, epoch: a.epoch, checksum: a.checksum, state } });
  }
  return out;
}

/** A partition's checkpoints (manifest version and key), oldest first. */
export async function listCheckpoints(blobs: BlobStore, partition: number): Promise<{ manifestVersion: number; key: string; lastModified?: Date }[]> {
  const out: { manifestVersion: number; key: string; lastModified?: Date }[] = [];
  const prefix = checkpointPrefix(partition);
  for await (const info of blobs.list(prefix)) {
    const rest = info.key.slice(prefix.length);
    if (/^\d{12}$/.test(rest)) out.push({ manifestVersion: Number(rest), key: info.key, ...(info.lastModified ? { lastModified: info.lastModified } : {}) });
  }
  return out.sort((a, b) => a.manifestVersion - b.manifestVersion);
}

/** Where a partition's restorable chain starts: its first segment, or its oldest checkpoint once segments before it are gone. */
export type ChainStart = { kind: 'segments' } | { kind: 'checkpoint'; checkpoint: Checkpoint; key: string } | { kind: 'damaged'; key: string; detail: string };

/**
 * Where a walk of the partition starts. While the segment of manifest version
 * 1 is in the backup (or that version is missing or unreadable: damage the
 * walk from the start names), at the first segment (the whole history); once
 * the retention deleted it, at the oldest checkpoint (the retention deletes
 * checkpoints older than the one it keeps before any segment, and segments
 * only up to the oldest kept checkpoint, oldest first, so every segment
 * after the oldest checkpoint is still there: a missing one is damage).
 * `damaged` when the oldest checkpoint does not open: a restore cannot
 * start anywhere then, and says so.
 */
export async function chainStart(blobs: BlobStore, partition: number): Promise<ChainStart> {
  const [first] = await listManifestVersions(blobs, partition);
  // The retention never deletes a manifest version: a missing or unreadable version 1 is damage, and the walk from the start names it.
  if (first?.version !== 1) return { kind: 'segments' };
  const bytes1 = await blobs.get(first.key);
  const m = bytes1 ? await openManifest(bytes1, first.key).catch(() => undefined) : undefined;
  if (!m || (await blobs.head(m.segment.key))) return { kind: 'segments' };
  const [oldest] = await listCheckpoints(blobs, partition);
  if (!oldest) return { kind: 'segments' };
  const bytes = await blobs.get(oldest.key);
  if (!bytes) return { kind: 'damaged', key: oldest.key, detail: 'listed but gone' };
  try {
    return { kind: 'checkpoint', checkpoint: await openCheckpoint(bytes, oldest.key), key: oldest.key };
  } catch (err) {
    return { kind: 'damaged', key: oldest.key, detail: (err as Error).message };
  }
}

/** The earliest point in time a restore of the whole backup can reach: the latest `maxTimestamp` of the partitions' starting checkpoints (undefined: every partition has its whole history). */
export async function oldestRestorableTime(blobs: BlobStore, partitions: number[]): Promise<number | undefined> {
  let t: number | undefined;
  for (const p of partitions) {
    const s = await chainStart(blobs, p);
    if (s.kind === 'checkpoint') t = Math.max(t ?? 0, s.checkpoint.maxTimestamp);
  }
  return t;
}

/** A restore or fold asked for a time before the oldest point the backup still holds (its older segments were deleted by the retention). */
export class RestorePointTooOldError extends AgentStateError {
  constructor(
    readonly requested: number,
    readonly oldest: number,
    where: string,
  ) {
    super(
      'AS_NOT_FOUND',
      `${where}: the backup cannot restore to ${new Date(requested).toISOString()}; the oldest restorable time is ${new Date(oldest).toISOString()} (older segments were deleted by the backup retention, BACKUP_KEEP_DAYS / BACKUP_KEEP_MONTHLY)`,
    );
  }
}
