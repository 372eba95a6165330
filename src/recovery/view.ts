import type { NodeHeartbeat } from '../runtime/types.js';
import { PhiAccrualDetector, type PhiOptions } from './phi.js';

export interface NodeEntry {
  last: NodeHeartbeat;
  detector: PhiAccrualDetector;
  /** alive | dead (suspected and acted on) | left (said it was stopping) */
  status: 'alive' | 'dead' | 'left';
  /** When this detector declared it dead (status dead). */
  deadSince?: number;
  /** Agents assigned to it by this detector and not yet in its heartbeats (so one failure does not pile everything on one host). */
  pending: Set<string>;
  /** FleetView.localPauseMs when its last heartbeat of the rhythm arrived. */
  pausedAt: number;
}

export interface AgentOwner {
  nodeId: string;
  epoch: number;
  version: number;
  seenAt: number;
}

/**
 * What the heartbeats say: which hosts are alive, what each runs, and who
 * owns each agent (the highest epoch listed wins: DESIGN.md Invariant 3, a
 * zombie's stale listing never outranks the new owner).
 */
export class FleetView {
  readonly nodes = new Map<string, NodeEntry>();
  readonly owners = new Map<string, AgentOwner>();
  /**
   * How long this detector's own process was paused (a blocked event loop: GC,
   * CPU starvation), in total. A node's silence does not count the pauses
   * since its last heartbeat: a paused reader cannot tell a silent node from
   * its own pause, and in one process the host's heartbeat timer waited too.
   */
  localPauseMs = 0;

  constructor(private readonly phi: PhiOptions = {}) {}

  /** @returns true when a dead or departed node came back (a restart, or a resumed zombie) */
  onHeartbeat(h: NodeHeartbeat, at: number): boolean {
    // An access report (an SDK process) hosts nothing: not a node to watch or to place agents on.
    if (h.role === 'access') return false;
    let n = this.nodes.get(h.nodeId);
    // A redelivered heartbeat (at-least-once delivery) is no sign of life: only a newer one counts.
    if (n && (h.timestamp < n.last.timestamp || (h.timestamp === n.last.timestamp && h.sequence <= n.last.sequence))) return false;
    const revived = n !== undefined && n.status !== 'alive' && h.status === 'running';
    if (!n || revived) {
      // A node back from the dead (restarted, or a resumed zombie) starts a fresh rhythm.
      n = { last: h, detector: new PhiAccrualDetector(h.intervalMs || 1000, this.phi), status: 'alive', pending: n?.pending ?? new Set(), pausedAt: this.localPauseMs };
      this.nodes.set(h.nodeId, n);
    }
    n.last = h;
    n.detector.heartbeat(at, h.intervalMs, h.timestamp, h.periodic !== false);
    if (n.detector.lastHeartbeat() === at) n.pausedAt = this.localPauseMs;
    if (h.status === 'stopping') n.status = 'left';
    const listed = new Set<string>();
    for (const a of h.agents) {
      listed.add(a.instanceId);
      n.pending.delete(a.instanceId);
      const o = this.owners.get(a.instanceId);
      if (!o || a.writerEpoch > o.epoch || (a.writerEpoch === o.epoch && o.nodeId === h.nodeId)) {
        this.owners.set(a.instanceId, { nodeId: h.nodeId, epoch: a.writerEpoch, version: a.version, seenAt: at });
      }
    }
    // An agent its owner no longer lists was stopped or fenced there: not that node's to lose any more.
    for (const [id, o] of this.owners) if (o.nodeId === h.nodeId && !listed.has(id)) this.owners.delete(id);
    return revived;
  }

  /** Counts a pause of this detector's process (see localPauseMs). */
  localPause(ms: number): void {
    this.localPauseMs += ms;
  }

  /** The instant to judge a node's silence at: now, less this process's pauses since its last heartbeat. */
  judgedAt(n: NodeEntry, now: number): number {
    return now - (this.localPauseMs - n.pausedAt);
  }

  /** Alive nodes whose silence now crosses the phi threshold. */
  suspects(now: number): NodeEntry[] {
    return [...this.nodes.values()].filter((n) => n.status === 'alive' && n.detector.suspect(this.judgedAt(n, now)));
  }

  /** The agents a node owned when it was last heard of. */
  agentsOf(nodeId: string): { instanceId: string; owner: AgentOwner }[] {
    return [...this.owners.entries()].filter(([, o]) => o.nodeId === nodeId).map(([instanceId, owner]) => ({ instanceId, owner }));
  }

  /**
   * Where a recovered agent goes: an alive host other than `exclude`, in the
   * failed host's region first, then the least loaded (its heartbeat's load
   * plus what this detector sent it since), then by nodeId for a stable choice.
   */
  chooseTarget(region: string | null, exclude: Set<string>, now: number): string | undefined {
    const candidates = [...this.nodes.values()].filter((n) => n.status === 'alive' && !exclude.has(n.last.nodeId) && !n.detector.suspect(this.judgedAt(n, now)));
    candidates.sort((a, b) => {
      const ra = a.last.region === region ? 0 : 1;
      const rb = b.last.region === region ? 0 : 1;
      if (ra !== rb) return ra - rb;
      const la = a.last.load + a.pending.size;
      const lb = b.last.load + b.pending.size;
      return la - lb || (a.last.nodeId < b.last.nodeId ? -1 : 1);
    });
    return candidates[0]?.last.nodeId;
  }
}
