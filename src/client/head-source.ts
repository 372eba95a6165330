import type { Logger } from 'pino';
import { historyGone } from './log-start.js';
import { checksum, type JsonValue, type Projection } from '../domain/index.js';
import type { EventLog, StoredRecord } from '../log/port.js';
import { parseStateTopicValue, type ClaimCheckedStateValue, type StateTopicValue } from '../log/state-topic.js';

/** Where a client's heads start: the projector's state topic and its position on the events topic. */
export interface TailBootstrap {
  /** The compacted state topic the projector publishes (it must publish it: the default). */
  stateTopic: string;
  /** The projector's consumer group on the events topic. */
  projectorGroup: string;
  /** Fetches a claim-checked (large) state; without it, such an agent's partition is folded from the start. */
  resolveClaimCheck?: (value: ClaimCheckedStateValue) => Promise<JsonValue>;
}

/** Where an agent's exact fold starts: a head (or none) that reflects every record below `at`. */
export interface BaseHead {
  head: Projection | undefined;
  at: bigint;
  /** True when the head came from the state topic. */
  fromStateTopic: boolean;
}

/**
 * The newest value of each agent in state-topic records (each partition's
 * records in offset order): per agent, among its values after its last
 * tombstone, the one with the highest version (ties: the later one), as the
 * projector publishes again older versions after a rebuild. Only that value
 * is parsed: candidates are ranked by the `version` header the projector
 * writes from the same projection as the body, and a body that is malformed
 * or disagrees with its header is passed over for the next one. A value
 * without a usable header is parsed to learn its version. Parsing every
 * value was most of a fleet connect's CPU (~40,000 values for 2,000 agents
 * on a topic not yet compacted). `wanted` limits it to those agents.
 */
export function newestStateValues(partitions: Iterable<StoredRecord[]>, wanted?: Set<string>): { latest: Map<string, StateTopicValue>; bytesRead: number } {
  type Candidate = { rank: number; seq: number; record: StoredRecord; parsed?: StateTopicValue };
  const candidates = new Map<string, Candidate[]>();
  let bytesRead = 0;
  let seq = 0;
  for (const records of partitions) {
    for (const r of records) {
      bytesRead += (r.value?.length ?? 0) + r.key.length;
      if (wanted && !wanted.has(r.key)) continue;
      if (r.value === null) {
        candidates.delete(r.key); // a tombstone: the agent is gone
        continue;
      }
      const header = r.headers.version;
      let rank = header !== undefined && /^\d{1,15}$/.test(header) ? Number(header) : undefined;
      let parsed: StateTopicValue | undefined;
      if (rank === undefined) {
        parsed = usable(r);
        if (!parsed) continue;
        rank = parsed.version;
      }
      const list = candidates.get(r.key) ?? [];
      list.push({ rank, seq: seq++, record: r, ...(parsed ? { parsed } : {}) });
      candidates.set(r.key, list);
    }
  }
  const latest = new Map<string, StateTopicValue>();
  for (const [key, list] of candidates) {
    list.sort((a, b) => b.rank - a.rank || b.seq - a.seq);
    for (const c of list) {
      const v = c.parsed ?? usable(c.record);
      if (v && v.version === c.rank) {
        latest.set(key, v);
        break;
      }
    }
  }
  return { latest, bytesRead };
}

/** The record's value when it is a usable state-topic value of its own key. */
function usable(r: StoredRecord): StateTopicValue | undefined {
  const v = parseStateTopicValue(r.value!);
  return v && v.instanceId === r.key ? v : undefined;
}

/**
 * Base heads for a set of agents from the projector's outputs, the same
 * reasoning as the fleet view's bootstrap (docs/writer.md "Where the view
 * starts") but for the named agents only: the newest state-topic value of each
 * reflects every accepted event below the projector's committed offset of its
 * partition, so its fold starts there. Reads only the state-topic partitions
 * holding these agents. Without commits (or without a usable value), the fold
 * starts at the partition's first offset.
 */
export async function baseHeads(log: EventLog, eventsTopic: string, ids: string[], bootstrap: TailBootstrap | undefined, logger?: Logger): Promise<{ bases: Map<string, BaseHead>; bytesRead: number }> {
  const bases = new Map<string, BaseHead>();
  let bytesRead = 0;
  const start = await log.startOffsets(eventsTopic);
  const partitionOf = new Map<string, number>();
  for (const id of ids) partitionOf.set(id, await log.partitionFor(eventsTopic, id));
  const fromStart = (id: string): BaseHead => {
    const p = partitionOf.get(id)!;
    const at = BigInt(start[p] ?? '0');
    if (at > 0n) throw historyGone(eventsTopic, p, at, `agent ${id}`);
    return { head: undefined, at, fromStateTopic: false };
  };
  const committed = bootstrap ? await log.committedOffsets(bootstrap.projectorGroup, eventsTopic).catch(() => ({}) as Record<number, string>) : {};
  if (!bootstrap || Object.keys(committed).length === 0) {
    for (const id of ids) bases.set(id, fromStart(id));
    return { bases, bytesRead };
  }
  const wanted = new Set(ids);
  const statePartitions = new Set<number>();
  for (const id of ids) statePartitions.add(await log.partitionFor(bootstrap.stateTopic, id));
  const [from, until] = await Promise.all([log.startOffsets(bootstrap.stateTopic), log.endOffsets(bootstrap.stateTopic)]);
  const parts = await Promise.all([...statePartitions].map((p) => log.read(bootstrap.stateTopic, p, from[p] ?? '0', until[p] ?? '0')));
  const newest = newestStateValues(parts, wanted);
  const latest = newest.latest;
  bytesRead += newest.bytesRead;
  for (const id of ids) {
    const p = partitionOf.get(id)!;
    const c = committed[p];
    if (c === undefined) {
      bases.set(id, fromStart(id));
      continue;
    }
    const v = latest.get(id);
    if (!v) {
      // No value below the commits: the agent had no accepted event there (or was deleted).
      bases.set(id, { head: undefined, at: BigInt(c), fromStateTopic: false });
      continue;
    }
    let state: JsonValue;
    if ('state' in v) state = v.state as JsonValue;
    else if (bootstrap.resolveClaimCheck) state = await bootstrap.resolveClaimCheck(v);
    else {
      bases.set(id, fromStart(id));
      continue;
    }
    if (checksum(state) !== v.checksum) {
      logger?.warn({ instanceId: id, version: v.version }, 'state topic value does not match its checksum; folding the agent from the start');
      bases.set(id, fromStart(id));
      continue;
    }
    const after = BigInt(v.position.offset) + 1n;
    bases.set(id, { head: { version: v.version, epoch: v.epoch, state, checksum: v.checksum }, at: after > BigInt(c) ? after : BigInt(c), fromStateTopic: true });
  }
  return { bases, bytesRead };
}
