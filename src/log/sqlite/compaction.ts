import type Database from 'better-sqlite3';
import { InvalidInputError } from '../../errors.js';
import type { TopicRow } from './tables.js';

/** What one `compact()` pass removed. */
export interface CompactionResult {
  /** Records removed because a later record in the partition has the same key. */
  superseded: number;
  /** Tombstones removed after being the latest record for their key longer than the tombstone retention. */
  tombstones: number;
  /** Records removed by time retention (topics with `retentionMs >= 0`). */
  expired: number;
}

/**
 * Log compaction (Kafka `cleanup.policy=compact`) for one topic.
 *
 * - A record is removed when a later record of the same partition has the
 *   same key; the survivors keep their offsets, so offsets of a compacted
 *   partition have gaps, exactly as on Kafka. End and start offsets do not move.
 * - A tombstone (null value) that is the latest record of its key is kept for
 *   `tombstoneRetentionMs` after it was appended, then removed. This is
 *   Kafka's `delete.retention.ms` (default 24 h): a consumer that reads the
 *   topic within that window sees the delete. Kafka counts from the cleaning
 *   of the segment; we count from the append, which is when the tombstone
 *   became the latest record of its key (a later record would supersede it).
 * - Unlike Kafka, the head (active segment) is compacted too: the embedded
 *   log has no segments, and readers never depend on superseded records.
 */
export function compactTopic(db: Database.Database, topic: TopicRow, now: number, tombstoneRetentionMs: number): CompactionResult {
  const result: CompactionResult = { superseded: 0, tombstones: 0, expired: 0 };
  if (!topic.compacted) return result;
  db.transaction(() => {
    // Survivors are the highest offset per (partition, key); GROUP BY needs no key index.
    const superseded = db
      .prepare(
        `DELETE FROM records WHERE topic_id = ? AND (part, off) NOT IN
           (SELECT part, max(off) FROM records WHERE topic_id = ? GROUP BY part, key)`,
      )
      .run(topic.id, topic.id);
    result.superseded = superseded.changes;
    // Every record left is now the latest of its key.
    const tombstones = db.prepare('DELETE FROM records WHERE topic_id = ? AND value IS NULL AND appended_at <= ?').run(topic.id, now - tombstoneRetentionMs);
    result.tombstones = tombstones.changes;
  }).immediate();
  return result;
}

/**
 * Time retention (Kafka `retention.ms`): removes the oldest records of each
 * partition up to the first record whose timestamp is within retention, and
 * moves the log start offset there. Like Kafka's segment deletion it only
 * ever removes a prefix, so the retained offsets stay a contiguous range.
 */
export function applyRetention(db: Database.Database, topic: TopicRow, now: number): number {
  if (topic.retentionMs < 0) return 0;
  const cutoff = now - topic.retentionMs;
  let removed = 0;
  db.transaction(() => {
    const starts = offsetsAtTime(db, topic, cutoff);
    for (let part = 0; part < topic.partitions; part++) removed += deletePrefix(db, topic, part, starts[part]!);
  }).immediate();
  return removed;
}

/** Per partition, the first offset whose timestamp is at or after `timestamp`, else the end offset. */
export function offsetsAtTime(db: Database.Database, topic: TopicRow, timestamp: number): bigint[] {
  const out: bigint[] = [];
  for (let part = 0; part < topic.partitions; part++) {
    const row = db.prepare<[number, number, number], { off: bigint | null }>('SELECT min(off) AS off FROM records WHERE topic_id = ? AND part = ? AND timestamp >= ?').get(topic.id, part, timestamp);
    out.push(row?.off ?? endOf(db, topic, part));
  }
  return out;
}

/**
 * Kafka's DeleteRecords: removes a partition's records below `before` and
 * moves its start offset there (never back, never past the end).
 * @throws InvalidInputError for an offset past the partition's end
 */
export function deleteBefore(db: Database.Database, topic: TopicRow, offsets: Map<number, bigint>): number {
  let removed = 0;
  db.transaction(() => {
    for (const [part, before] of offsets) {
      if (part < 0 || part >= topic.partitions) throw new InvalidInputError('partition', `${part} (topic ${topic.name} has ${topic.partitions})`);
      const end = endOf(db, topic, part);
      if (before > end) throw new InvalidInputError('offset', `${before} is past the end (${end}) of ${topic.name}/${part}`);
      removed += deletePrefix(db, topic, part, before);
    }
  }).immediate();
  return removed;
}

function endOf(db: Database.Database, topic: TopicRow, part: number): bigint {
  return db.prepare<[number, number], { next_offset: bigint }>('SELECT next_offset FROM partitions WHERE topic_id = ? AND part = ?').get(topic.id, part)!.next_offset;
}

/** Only ever a prefix, so the retained offsets stay a contiguous range. */
function deletePrefix(db: Database.Database, topic: TopicRow, part: number, newStart: bigint): number {
  const removed = db.prepare('DELETE FROM records WHERE topic_id = ? AND part = ? AND off < ?').run(topic.id, part, newStart).changes;
  db.prepare('UPDATE partitions SET start_offset = max(start_offset, ?) WHERE topic_id = ? AND part = ?').run(newStart, topic.id, part);
  return removed;
}
