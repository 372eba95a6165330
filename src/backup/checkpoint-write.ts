import { sealBlob } from '../codec/blob-frame.js';
import { KeyDestroyedError } from '../codec/errors.js';
import type { EventCodec } from '../codec/event-codec.js';
import type { Keyring } from '../codec/keyring.js';
import { readEventRecord } from '../domain/record.js';
import { AlreadyExistsError, KeyError } from '../errors.js';
import type { BlobStore } from '../blob/port.js';
import { walkPartition } from './chain.js';
import { backupReader } from './changesets.js';
import { CHECKPOINT_FORMAT, PartitionFold, checkpointAad, checkpointKey, openCheckpoint, type AgentCheckpoint, type Checkpoint } from './checkpoint.js';
import { readableRecords } from './crypt.js';
import { readHead } from './manifest.js';
import { BackupDamagedError } from './restore.js';

/** What {@link writeCheckpoint} did. */
export interface CheckpointWritten {
  key: string;
  manifestVersion: number;
  agents: number;
  /** False when the checkpoint was already there (another process, or an earlier run) and was checked instead. */
  created: boolean;
}

export interface WriteCheckpointOptions {
  blobs: BlobStore;
  codec: EventCodec;
  partition: number;
  /** Decrypts the archived values, and encrypts each agent's state in the checkpoint (required when the backup is encrypted). */
  keyring?: Keyring;
  now: number;
}

/**
 * Writes the checkpoint at the partition's manifest head (create-only), folded
 * from the newest readable checkpoint (or the partition's start) through the
 * head's segments, every segment checked. Nothing is written when the chain
 * has any damage on the way (the walk's problem is thrown): a checkpoint
 * never hides a defect. Returns undefined when the partition has no manifest
 * or the head already has a checkpoint.
 * @throws BackupDamagedError naming the damage; KeyError when values are encrypted and no keyring is given
 */
export async function writeCheckpoint(o: WriteCheckpointOptions): Promise<CheckpointWritten | undefined> {
  const { blobs, partition } = o;
  const head = await readHead(blobs, partition);
  if (head.version === 0) return undefined;
  const key = checkpointKey(partition, head.version);
  if (await blobs.head(key)) return undefined;
  const fold = new PartitionFold();
  const decode = backupReader(o.codec, blobs, o.keyring);
  let last: { version: number; sha: string; topic: string; partitions: number; nextOffset: string } | undefined;
  for await (const s of walkPartition(blobs, partition, { ...(o.keyring ? { keyring: o.keyring } : {}), newestCheckpoint: true, throughVersion: head.version })) {
    if (s.kind === 'problem') throw new BackupDamagedError(s.problem);
    if (s.kind === 'checkpoint') {
      // Never fold on without an agent: a state the archiver cannot decrypt would be left out of the next checkpoint.
      if ([...s.agents.values()].some((a) => a.locked)) throw new KeyError(`checkpoint ${s.key} holds encrypted states: the next checkpoint needs the master keys (AGENTSTATE_MASTER_KEYS[_FILE]) and data keys`);
      fold.seed(s.checkpoint, s.agents);
      last = { version: s.checkpoint.manifestVersion, sha: s.checkpoint.manifestSha256, topic: s.checkpoint.topic, partitions: s.checkpoint.partitions, nextOffset: s.checkpoint.nextOffset };
      continue;
    }
    const readable = await readableRecords(s.segment, o.keyring);
    const shredded = new Set(readable.shredded);
    for (const r of s.segment.records) if (shredded.has(r.offset)) fold.shred(r.key, r.timestamp);
    for (const r of readable.records) {
      const reading = await readEventRecord(r, decode);
      if (reading.kind === 'event') fold.event(reading.event, r.timestamp);
      else fold.other(r.timestamp);
    }
    last = { version: s.manifest.version, sha: s.manifestSha256, topic: s.manifest.topic, partitions: s.manifest.partitions, nextOffset: s.manifest.nextOffset };
  }
  if (!last || last.version !== head.version) return undefined;
  const agents: Record<string, AgentCheckpoint> = {};
  for (const [id, a] of [...fold.agents].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
    if (a.shredded || !a.projection || !a.meta) {
      if (a.shredded) agents[id] = { version: 0, epoch: 0, checksum: '', head: a.head, createdAt: 0, updatedAt: 0, lastEventId: '', lastEventType: '', modifiedBy: '', body: { kind: 'shredded' } };
      continue;
    }
    const { version, epoch, checksum, state } = a.projection;
    let body: AgentCheckpoint['body'] = { kind: 'plain', state };
    if (o.keyring) {
      try {
        body = { kind: 'encrypted', frame: (await o.keyring.encrypt(id, Buffer.from(JSON.stringify(state), 'utf8'), checkpointAad(key, id))).toString('base64') };
      } catch (err) {
        if (!(err instanceof KeyDestroyedError)) throw err;
        body = { kind: 'shredded' };
      }
    }
    agents[id] = { version, epoch, checksum, head: a.head, ...a.meta, body };
  }
  const cp: Checkpoint = {
    format: CHECKPOINT_FORMAT,
    topic: last.topic,
    partition,
    partitions: last.partitions,
    manifestVersion: last.version,
    manifestSha256: last.sha,
    nextOffset: last.nextOffset,
    maxTimestamp: fold.maxTimestamp,
    agents,
    writtenAt: o.now,
  };
  const bytes = await sealBlob(JSON.stringify(cp), { algorithm: 'lz4' });
  try {
    await blobs.put(key, bytes, { ifNoneMatch: true, contentType: 'application/octet-stream' });
  } catch (err) {
    if (!(err instanceof AlreadyExistsError)) throw err;
    // Another process wrote it first: it must open (a checkpoint the retention may rely on).
    await openCheckpoint((await blobs.get(key))!, key);
    return { key, manifestVersion: last.version, agents: Object.keys(agents).length, created: false };
  }
  // Read back: the retention deletes segments on the strength of this object.
  await openCheckpoint((await blobs.get(key))!, key);
  return { key, manifestVersion: last.version, agents: Object.keys(agents).length, created: true };
}
