import type { BlobStore } from '../blob/port.js';
import type { EventLog } from '../log/port.js';
import { readHead } from './manifest.js';

/** What {@link trimLog} did to one partition of the events topic. */
export interface PartitionTrim {
  partition: number;
  /** The log's start offset before and after. */
  from: string;
  to: string;
  /** What held the new start where it is: the backup, a consumer group (by name), or the age limit. */
  limitedBy: 'backup' | 'age' | `group ${string}`;
}

export interface TrimLogOptions {
  log: EventLog;
  /** The backup: only offsets its manifests name as archived are ever deleted. */
  blobs: BlobStore;
  topic: string;
  /** Records younger than this stay in the log (ms). */
  keepMs: number;
  /**
   * Groups that must have consumed a record before it goes: the first one
   * (the projector) must have a committed offset on a partition for anything
   * there to go; the others hold it back only when they have one.
   */
  groups: [string, ...string[]];
  now: number;
}

/**
 * Caps the events topic behind the backup (issue 14; docs/backup.md
 * "Capping the events topic"): per partition, deletes the records that are
 * (1) in segments the manifest head names, (2) consumed by the projector and
 * every other listed group that has a position, and (3) older than `keepMs`.
 * The history below the new start lives in the backup only: `restore`,
 * `verify` and time travel read it from there, and writers take the heads of
 * the agents it touched from the state topic (the projector wrote them before
 * it committed past those records, Invariant 4).
 */
export async function trimLog(o: TrimLogOptions): Promise<PartitionTrim[]> {
  const [starts, byAge, ...committed] = await Promise.all([o.log.startOffsets(o.topic), o.log.offsetsAtTime(o.topic, o.now - o.keepMs), ...o.groups.map((g) => o.log.committedOffsets(g, o.topic))]);
  const out: PartitionTrim[] = [];
  const deletes: Record<number, string> = {};
  for (const [p, s] of Object.entries(starts)) {
    const partition = Number(p);
    const start = BigInt(s);
    const head = await readHead(o.blobs, partition);
    if (head.nextOffset === null || committed[0]![partition] === undefined) continue;
    let to = BigInt(head.nextOffset);
    let limitedBy: PartitionTrim['limitedBy'] = 'backup';
    const age = BigInt(byAge[partition] ?? s);
    if (age < to) [to, limitedBy] = [age, 'age'];
    o.groups.forEach((g, i) => {
      const c = committed[i]![partition];
      if (c !== undefined && BigInt(c) < to) [to, limitedBy] = [BigInt(c), `group ${g}`];
    });
    if (to <= start) continue;
    deletes[partition] = to.toString();
    out.push({ partition, from: s, to: to.toString(), limitedBy });
  }
  await o.log.deleteBefore(o.topic, deletes);
  return out;
}
