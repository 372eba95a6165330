import type { Filter } from 'mongodb';
import type { EventQuery, SnapshotQuery } from '../port.js';
import type { EventDoc, SnapshotDoc } from './documents.js';

/** The `state_events` filter of an event query (the port's bounds; `timestamp` is a Date in the document). */
export function eventFilter(q: EventQuery): Filter<EventDoc> {
  const filter: Filter<EventDoc> = { instanceId: q.instanceId };
  const version: Record<string, number> = {};
  if (q.fromVersion !== undefined) version.$gte = q.fromVersion;
  if (q.toVersion !== undefined) version.$lte = q.toVersion;
  if (Object.keys(version).length > 0) filter.version = version;
  const time: Record<string, Date> = {};
  if (q.fromTime !== undefined) time.$gte = new Date(q.fromTime);
  if (q.toTime !== undefined) time.$lte = new Date(q.toTime);
  if (Object.keys(time).length > 0) filter.timestamp = time;
  if (q.eventTypes !== undefined) filter.eventType = { $in: q.eventTypes };
  return filter;
}

/** The `state_snapshots` filter of one agent's snapshot query. */
export function snapshotFilter(instanceId: string, q: SnapshotQuery): Filter<SnapshotDoc> {
  const filter: Filter<SnapshotDoc> = { instanceId };
  if (q.atOrBeforeVersion !== undefined) filter.version = { $lte: q.atOrBeforeVersion };
  if (q.atOrBeforeTime !== undefined) filter.timestamp = { $lte: new Date(q.atOrBeforeTime) };
  if (q.types !== undefined) filter.snapshotType = { $in: q.types };
  return filter;
}
