import type { BlobStore } from '../blob/port.js';
import type { EventLog } from '../log/port.js';
import { topicNames, DEFAULT_TOPIC_PREFIX } from '../log/topics.js';
import { readHead } from './manifest.js';

/** One partition in `agentstate backup status`. */
export interface PartitionStatus {
  partition: number;
  /** Manifest versions = segments archived. */
  segments: number;
  /** Next offset not in the backup (null: nothing archived yet). */
  archivedNext: string | null;
  endOffset: string;
  /** The log's start offset: records below it are in the backup only (capped: BACKUP_TRIM_LOG_AFTER_MS) or gone. */
  logStart: string;
  /** Records in the log and not in the backup. */
  lagRecords: string;
  /** Age of the oldest of them (s): the RPO now. */
  lagSeconds: number;
  /** When the last segment was archived (ms). */
  lastSegmentAt: number | null;
}

/** Manifest heads against the log's end offsets, per partition. */
export async function backupStatus(options: { blobs: BlobStore; log: EventLog; topicPrefix?: string; now?: number }): Promise<PartitionStatus[]> {
  const topic = topicNames(options.topicPrefix ?? DEFAULT_TOPIC_PREFIX).events;
  const now = options.now ?? Date.now();
  const [ends, starts] = await Promise.all([options.log.endOffsets(topic), options.log.startOffsets(topic)]);
  const out: PartitionStatus[] = [];
  for (const [p, end] of Object.entries(ends)) {
    const partition = Number(p);
    const head = await readHead(options.blobs, partition);
    const next = BigInt(head.nextOffset ?? starts[partition] ?? '0');
    const lag = BigInt(end) > next ? BigInt(end) - next : 0n;
    let seconds = 0;
    if (lag > 0n) {
      const [r] = await options.log.read(topic, partition, next.toString(), (next + 1n).toString());
      if (r) seconds = Math.max(0, (now - r.timestamp) / 1000);
    }
    out.push({ partition, segments: head.version, archivedNext: head.nextOffset, endOffset: end, logStart: starts[partition] ?? '0', lagRecords: lag.toString(), lagSeconds: seconds, lastSegmentAt: head.lastSegmentAt });
  }
  return out.sort((a, b) => a.partition - b.partition);
}
