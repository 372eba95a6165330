import type { BlobStore } from '../blob/port.js';
import type { Keyring } from '../codec/keyring.js';
import type { Projection } from '../domain/reducer.js';
import type { StoredRecord } from '../log/port.js';
import { BackupDamagedError } from './restore.js';
import { chainStart, checkpointAgents } from './checkpoint.js';
import { readableRecords } from './crypt.js';
import { listManifestVersions, openManifest } from './manifest.js';
import { openSegment, sha256Hex } from './segment.js';

/** What the backup holds of one partition below an offset the log no longer has. */
export interface ArchivedHistory {
  /** When the retention retired the partition's first segments: the agents of the checkpoint the history starts at (their fold state there). */
  checkpoint?: Map<string, Projection>;
  /** The archived records below `before`, oldest first. */
  records: AsyncIterable<StoredRecord>;
}

/**
 * The history of one partition that the events topic no longer has (capped
 * behind the backup: docs/backup.md "Capping the events topic"), from the
 * backup: each segment is checked against its manifest's SHA-256 before a
 * record of it is used, and offsets must follow on from each other.
 * @throws BackupDamagedError when a segment is missing or altered, the checkpoint unreadable, or the offsets do not reach `before`
 */
export async function archivedHistory(blobs: BlobStore, topic: string, partition: number, before: bigint, keyring?: Keyring): Promise<ArchivedHistory> {
  const start = await chainStart(blobs, partition);
  if (start.kind === 'damaged')
    throw new BackupDamagedError({ kind: 'checkpoint_corrupt', partition, key: start.key, detail: `checkpoint ${start.key}, where the backup of this partition starts, is unreadable: ${start.detail}` });
  let checkpoint: Map<string, Projection> | undefined;
  let after = 0;
  // From offset 0: a backup that began after the log had lost its start cannot give the history either.
  let next = 0n;
  if (start.kind === 'checkpoint') {
    after = start.checkpoint.manifestVersion;
    next = BigInt(start.checkpoint.nextOffset);
    checkpoint = new Map();
    for (const [id, a] of await checkpointAgents(start.checkpoint, keyring, { lenient: true })) if (a.projection) checkpoint.set(id, a.projection);
  }
  const versions = (await listManifestVersions(blobs, partition)).filter((v) => v.version > after);
  async function* records(): AsyncGenerator<StoredRecord> {
    for (const v of versions) {
      if (next >= before) return;
      const bytes = await blobs.get(v.key);
      if (!bytes) throw new BackupDamagedError({ kind: 'manifest_missing', partition, key: v.key, detail: `manifest ${v.key} is listed but gone` });
      const seg = (await openManifest(bytes, v.key)).segment;
      const damaged = (kind: 'segment_missing' | 'segment_checksum' | 'offset_gap', detail: string) =>
        new BackupDamagedError({ kind, partition, key: seg.key, firstOffset: seg.firstOffset, lastOffset: seg.lastOffset, detail });
      if (BigInt(seg.firstOffset) > next) throw damaged('offset_gap', `the backup jumps from offset ${next} to ${seg.firstOffset}`);
      const stored = await blobs.get(seg.key);
      if (!stored) throw damaged('segment_missing', `segment of offsets ${seg.firstOffset}-${seg.lastOffset} is missing`);
      if (sha256Hex(stored) !== seg.sha256) throw damaged('segment_checksum', `segment of offsets ${seg.firstOffset}-${seg.lastOffset} does not match its manifest`);
      for (const r of (await readableRecords(await openSegment(stored), keyring)).records) {
        const offset = BigInt(r.offset);
        if (offset >= before) return;
        if (offset < next) continue;
        yield { topic, partition, offset: r.offset, key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp };
      }
      next = BigInt(seg.lastOffset) + 1n;
    }
    if (next < before) throw new BackupDamagedError({ kind: 'offset_gap', partition, key: `backup/events/${partition}`, detail: `the backup ends at offset ${next}; the log starts at ${before}` });
  }
  return { ...(checkpoint ? { checkpoint } : {}), records: records() };
}
