import type { EventQuery, SnapshotQuery } from '../port.js';
import { checkLimit, type CheckedFilter } from '../query.js';
import { EVENT_COLUMNS, SNAPSHOT_COLUMNS, STATE_COLUMNS } from './rows.js';

/**
 * The SQL the store runs. Fixed statements are constants; the two query
 * methods build theirs from the bounds given.
 *
 * Id lists (which can be thousands long) are bound as one JSON array and
 * expanded with `json_each`, so the SQL text does not depend on their length
 * and the prepared-statement cache stays small; they are looked up by primary
 * key either way. Type lists are short and get one placeholder each, because
 * the planner only picks the (instance_id, event_type) index when it can see
 * how many values the IN list holds.
 */

const insert = (table: string, columns: readonly string[]): string => `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`;

const updates = (columns: readonly string[], key: string): string =>
  columns
    .filter((c) => c !== key)
    .map((c) => `${c} = excluded.${c}`)
    .join(', ');

/** Insert-if-absent by (instance_id, version): a redelivered event changes nothing (Invariant 4). */
export const INSERT_EVENT = `${insert('state_events', EVENT_COLUMNS)} ON CONFLICT (instance_id, version) DO NOTHING`;

/**
 * The version-guarded upsert: a row is inserted, or replaced only by a
 * strictly higher version. The guard is in the statement, inside the batch's
 * write transaction, so no other writer can move the row between the check
 * and the write, and an older or equal version never replaces a newer one
 * (DESIGN.md Invariant 4). `changes` is 0 when the guard held the row.
 */
export const UPSERT_STATE = `${insert('agent_states', STATE_COLUMNS)} ON CONFLICT (instance_id) DO UPDATE SET ${updates(STATE_COLUMNS, 'instance_id')} ` + `WHERE excluded.version > agent_states.version`;

/** Insert or replace by snapshot_id: a retried snapshot is the same record. */
export const PUT_SNAPSHOT = `${insert('state_snapshots', SNAPSHOT_COLUMNS)} ON CONFLICT (snapshot_id) DO UPDATE SET ${updates(SNAPSHOT_COLUMNS, 'snapshot_id')}`;

export const JSON_LIST = '(SELECT value FROM json_each(?))';

/** `(NULL)` for an empty list: `x IN (NULL)` matches nothing, as MongoDB's `$in: []`. */
function placeholders(n: number): string {
  return n === 0 ? '(NULL)' : `(${Array.from({ length: n }, () => '?').join(', ')})`;
}

export interface Sql {
  sql: string;
  params: unknown[];
}

/** Shared with the MongoDB adapter, so both refuse the same limits. */
export { checkLimit };

/** The event mirror query: every bound inclusive, ordered by version. */
export function eventQuerySql(q: EventQuery): Sql {
  const where = ['instance_id = ?'];
  const params: unknown[] = [q.instanceId];
  if (q.fromVersion !== undefined) {
    where.push('version >= ?');
    params.push(q.fromVersion);
  }
  if (q.toVersion !== undefined) {
    where.push('version <= ?');
    params.push(q.toVersion);
  }
  if (q.fromTime !== undefined) {
    where.push('timestamp >= ?');
    params.push(q.fromTime);
  }
  if (q.toTime !== undefined) {
    where.push('timestamp <= ?');
    params.push(q.toTime);
  }
  if (q.eventTypes !== undefined) {
    where.push(`event_type IN ${placeholders(q.eventTypes.length)}`);
    params.push(...q.eventTypes);
  }
  const limit = checkLimit(q.limit, 'queryEvents');
  let sql = `SELECT * FROM state_events WHERE ${where.join(' AND ')} ORDER BY version ${q.order === 'desc' ? 'DESC' : 'ASC'}`;
  if (limit !== undefined) {
    sql += ' LIMIT ?';
    params.push(limit);
  }
  return { sql, params };
}

/**
 * The newest snapshot matching every bound. Ties on version (a `full` and a
 * `checkpoint` taken at the same version) are broken by id (descending, so the
 * index order serves the sort), and the answer is the same on every call.
 */
export function findSnapshotSql(instanceId: string, q: SnapshotQuery): Sql {
  const where = ['instance_id = ?'];
  const params: unknown[] = [instanceId];
  if (q.atOrBeforeVersion !== undefined) {
    where.push('version <= ?');
    params.push(q.atOrBeforeVersion);
  }
  if (q.atOrBeforeTime !== undefined) {
    where.push('state_timestamp <= ?');
    params.push(q.atOrBeforeTime);
  }
  if (q.types !== undefined) {
    where.push(`type IN ${placeholders(q.types.length)}`);
    params.push(...q.types);
  }
  return { sql: `SELECT * FROM state_snapshots WHERE ${where.join(' AND ')} ORDER BY version DESC, snapshot_id DESC LIMIT 1`, params };
}

/** Retention candidates, in the partial expiry index's order. */
export const EXPIRED_SNAPSHOTS = 'SELECT * FROM state_snapshots WHERE expires_at IS NOT NULL AND permanent = 0 AND critical = 0 AND expires_at <= ? ' + 'ORDER BY expires_at, snapshot_id LIMIT ?';

export function listAgentsSql(options: { afterId?: string; limit?: number }): Sql {
  const params: unknown[] = [];
  let sql = 'SELECT instance_id FROM agent_states';
  if (options.afterId !== undefined) {
    sql += ' WHERE instance_id > ?';
    params.push(options.afterId);
  }
  sql += ' ORDER BY instance_id';
  const limit = checkLimit(options.limit, 'listAgents');
  if (limit !== undefined) {
    sql += ' LIMIT ?';
    params.push(limit);
  }
  return { sql, params };
}

/**
 * The agent query: indexed columns for status, type and time; capabilities
 * with JSON1 over the `fields` text. Ordered by id, one row past the page to
 * know whether there is a next one.
 */
export function stateQuerySql(f: CheckedFilter): Sql {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.status !== undefined) {
    where.push('status = ?');
    params.push(f.status);
  }
  if (f.agentType !== undefined) {
    where.push('agent_type = ?');
    params.push(f.agentType);
  }
  if (f.capability !== undefined) {
    where.push(`EXISTS (SELECT 1 FROM json_each(fields, '$.capabilities') WHERE value = ?)`);
    params.push(f.capability);
  }
  if (f.updatedSince !== undefined) {
    where.push('updated_at >= ?');
    params.push(f.updatedSince);
  }
  if (f.afterId !== undefined) {
    where.push('instance_id > ?');
    params.push(f.afterId);
  }
  const columns = `instance_id, version, epoch, checksum, agent_type, status, fields -> '$.capabilities' AS capabilities, last_event_type, updated_at, created_at`;
  const sql = `SELECT ${columns} FROM agent_states${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY instance_id LIMIT ?`;
  params.push(f.limit + 1);
  return { sql, params };
}
