import type { BlobStore } from '../blob/port.js';
import type { EventCodec } from '../codec/event-codec.js';
import type { Keyring } from '../codec/keyring.js';
import { readEventRecord } from '../domain/record.js';
import { backupReader } from './changesets.js';
import { step, type Projection } from '../domain/reducer.js';
import { NotFoundError } from '../errors.js';
import { readableRecords } from './crypt.js';
import { listBackupPartitions, listManifestVersions, openManifest } from './manifest.js';
import { openSegment, sha256Hex } from './segment.js';
import { BackupDamagedError } from './restore.js';
import { RestorePointTooOldError, chainStart, checkpointAgents } from './checkpoint.js';

/**
 * One agent's state at a point in time, from the backup alone (issue 14: the
 * in-place `restore --agent <id> --to <time>`): only the segments whose
 * manifest entry names the agent are read (each checked against the
 * manifest's SHA-256), and its events stamped at or before `to` are folded
 * with the domain reducer, every step's checksum recomputed (DESIGN.md
 * Invariant 2). When the retention deleted the partition's older segments,
 * the fold starts from the agent's state in the oldest checkpoint.
 * @throws RestorePointTooOldError when `to` is before the oldest point the backup still holds
 * @throws NotFoundError when the backup has no event of the agent at or before `to`
 * @throws BackupDamagedError when a segment it needs is missing or does not match its manifest, or its versions jump
 */
export async function agentStateFromBackup(blobs: BlobStore, codec: EventCodec, instanceId: string, to: number, keyring?: Keyring): Promise<Projection> {
  let projection: Projection | undefined;
  const decode = backupReader(codec, blobs, keyring);
  for (const partition of await listBackupPartitions(blobs)) {
    // Where the partition's backup starts: its first segment, or the checkpoint the retention left.
    const start = await chainStart(blobs, partition);
    if (start.kind === 'damaged')
      throw new BackupDamagedError({ kind: 'checkpoint_corrupt', partition, key: start.key, detail: `checkpoint ${start.key}, where the backup of this partition starts, is unreadable: ${start.detail}` });
    let after = 0;
    if (start.kind === 'checkpoint') {
      after = start.checkpoint.manifestVersion;
      const a = (await checkpointAgents(start.checkpoint, keyring)).get(instanceId);
      if (a && to < start.checkpoint.maxTimestamp) throw new RestorePointTooOldError(to, start.checkpoint.maxTimestamp, `agent ${instanceId}: backup partition ${partition} starts at checkpoint ${start.key}`);
      if (a?.projection) projection = a.projection;
    }
    for (const v of await listManifestVersions(blobs, partition)) {
      if (v.version <= after) continue;
      const bytes = await blobs.get(v.key);
      if (!bytes) continue;
      const m = await openManifest(bytes, v.key);
      const seg = m.segment;
      if (!seg.agents[instanceId] || seg.minTimestamp > to) continue;
      const damaged = (kind: 'segment_missing' | 'segment_checksum', detail: string) => new BackupDamagedError({ kind, partition, key: seg.key, firstOffset: seg.firstOffset, lastOffset: seg.lastOffset, detail });
      const stored = await blobs.get(seg.key);
      if (!stored) throw damaged('segment_missing', `segment of offsets ${seg.firstOffset}-${seg.lastOffset} is missing`);
      if (sha256Hex(stored) !== seg.sha256) throw damaged('segment_checksum', `segment of offsets ${seg.firstOffset}-${seg.lastOffset} does not match its manifest`);
      const readable = await readableRecords(await openSegment(stored), keyring);
      for (const r of readable.records) {
        if (r.key !== instanceId) continue;
        if (r.timestamp > to) return found(projection, instanceId, to);
        const reading = await readEventRecord(r, decode);
        if (reading.kind !== 'event') continue;
        if (reading.event.version > (projection?.version ?? 0) + 1) {
          throw new BackupDamagedError({
            kind: 'offset_gap',
            partition,
            key: seg.key,
            firstOffset: r.offset,
            lastOffset: r.offset,
            detail: `agent ${instanceId} jumps from version ${projection?.version ?? 0} to ${reading.event.version}`,
          });
        }
        const out = step(projection, reading.event);
        if (out.accept) projection = out.projection;
      }
    }
  }
  return found(projection, instanceId, to);
}

function found(projection: Projection | undefined, instanceId: string, to: number): Projection {
  if (!projection) throw new NotFoundError(`agent ${instanceId} in the backup at ${new Date(to).toISOString()}`);
  return projection;
}
