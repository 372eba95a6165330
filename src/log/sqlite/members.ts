import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type Database from 'better-sqlite3';
import { ConflictError } from '../../errors.js';
import { toNumber } from './offsets.js';

/**
 * Member ids of consumers running in this process, across every
 * SqliteEventLog instance (two instances may open the same file). A heartbeat
 * row carrying this process's pid is live exactly when its id is in here.
 */
const runningHere = new Set<string>();

interface MemberRow {
  member_id: string;
  pid: bigint;
  host: string;
  heartbeat_at: bigint;
  session_timeout_ms: bigint | null;
}

/**
 * Consumer-group membership for the embedded log.
 *
 * Kafka tracks members through the group coordinator; here each running
 * consumer owns a row in `group_members` that it refreshes every heartbeat
 * interval and deletes when it stops. A row is live when it is fresh (younger
 * than the session timeout, Kafka's `session.timeout.ms`) and, when it comes
 * from this host, its process still exists: a SIGKILLed process stops
 * counting at once instead of after the timeout. Rows of this process are
 * judged by `runningHere`, never by age.
 *
 * The embedded log gives a group one member at a time (no partition
 * assignment among members): a second consumer in a live group is refused
 * with ConflictError, as is `resetGroup` (Kafka refuses to reset the offsets
 * of a non-empty group).
 */
export class GroupMembership {
  private readonly host = hostname();
  private readonly select: Database.Statement<[string], MemberRow>;
  private readonly insert: Database.Statement<[string, string, number, string, string, number, number]>;
  private readonly touch: Database.Statement<[number, string, string]>;
  private readonly remove: Database.Statement<[string, string]>;

  constructor(
    private readonly db: Database.Database,
    private readonly sessionTimeoutMs: number,
  ) {
    this.select = db.prepare('SELECT member_id, pid, host, heartbeat_at, session_timeout_ms FROM group_members WHERE group_name = ?');
    this.insert = db.prepare('INSERT INTO group_members (group_name, member_id, pid, host, topics, heartbeat_at, session_timeout_ms) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.touch = db.prepare('UPDATE group_members SET heartbeat_at = ? WHERE group_name = ? AND member_id = ?');
    this.remove = db.prepare('DELETE FROM group_members WHERE group_name = ? AND member_id = ?');
  }

  /**
   * Registers a new member; ConflictError when the group already has a live one.
   * @param sessionTimeoutMs how long this member may stay silent before others count it dead (the consumer's own, as Kafka's JoinGroup carries it)
   */
  join(group: string, topics: string[], sessionTimeoutMs: number = this.sessionTimeoutMs): string {
    const memberId = randomUUID();
    this.db
      .transaction(() => {
        const live = this.liveMembers(group);
        if (live.length > 0) {
          throw new ConflictError(`consumer group ${group} already has an active consumer (${live.join(', ')}); the embedded log runs one consumer per group`);
        }
        // Rows of dead members are dropped so the table does not grow.
        this.db.prepare('DELETE FROM group_members WHERE group_name = ?').run(group);
        this.insert.run(group, memberId, process.pid, this.host, JSON.stringify(topics), Date.now(), sessionTimeoutMs);
      })
      .immediate();
    runningHere.add(memberId);
    return memberId;
  }

  heartbeat(group: string, memberId: string): void {
    this.touch.run(Date.now(), group, memberId);
  }

  leave(group: string, memberId: string): void {
    runningHere.delete(memberId);
    this.remove.run(group, memberId);
  }

  /** Descriptions of the live members of a group (empty when none). */
  liveMembers(group: string): string[] {
    const now = Date.now();
    const live: string[] = [];
    for (const row of this.select.all(group)) {
      const pid = toNumber(row.pid);
      const here = row.host === this.host;
      if (here && pid === process.pid) {
        if (runningHere.has(row.member_id)) live.push(`${row.member_id} in this process`);
        continue;
      }
      const timeout = row.session_timeout_ms === null ? this.sessionTimeoutMs : toNumber(row.session_timeout_ms);
      if (now - toNumber(row.heartbeat_at) > timeout) continue;
      if (here && !processExists(pid)) continue;
      live.push(`${row.member_id} in pid ${pid} on ${row.host}`);
    }
    return live;
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
