import type { AgentAccess } from '../telemetry/access.js';

/**
 * What runtime hosts and the recovery service say to each other on the log:
 * node heartbeats on `<prefix>heartbeats` (schemas/Heartbeat.avsc, key
 * `node:<nodeId>`) and commands on `<prefix>control` (schemas/ControlCommand.avsc).
 */

/** An agent a host runs, as its heartbeat lists it. */
export interface HostedAgent {
  instanceId: string;
  /** The head version the host's writer holds. */
  version: number;
  /** The ownership epoch the host writes under (DESIGN.md Invariant 3). */
  writerEpoch: number;
  /** running | frozen (hand-over in progress) | stopping */
  state: 'running' | 'frozen' | 'stopping';
}

/** Where a host runs, as in the seed's MigrationRecordDocument environments. */
export interface HostPlacement {
  nodeId: string;
  host: string | null;
  dataCenter: string | null;
  region: string | null;
}

/** One heartbeat of a runtime host. */
export interface NodeHeartbeat extends HostPlacement {
  timestamp: number;
  /** +1 per heartbeat of this host process. */
  sequence: number;
  /** running | stopping (a host that is shutting down on purpose: not a failure). */
  status: 'running' | 'stopping';
  intervalMs: number;
  /**
   * false: an extra heartbeat off the host's rhythm (sent at once when an
   * agent starts, to announce it); the failure detector learns the interval
   * from periodic heartbeats only. On the wire: `metadata.beat = 'extra'`.
   * @default true
   */
  periodic?: boolean;
  /** Agents hosted: the least loaded host takes recovered agents. */
  load: number;
  heapUsedBytes: number | null;
  agents: HostedAgent[];
  /** Per-agent access figures measured since the previous heartbeat (an `AccessRecorder` (src/telemetry/access.ts) drained); empty when none were recorded. */
  access?: AgentAccess[];
  /**
   * `access`: a process that only reports access figures (a plain SDK user,
   * `openAgentState`), not a runtime host: it lists no agents, is no
   * recovery target and no host in analytics. Travels as the heartbeat's
   * `metadata.role`. @default 'host'
   */
  role?: 'host' | 'access';
}

export const CONTROL_COMMAND_TYPES = ['recover', 'migrate', 'freeze', 'resume', 'abort_migration', 'rollback_migration', 'terminate', 'start', 'stop'] as const;
export type ControlCommandType = (typeof CONTROL_COMMAND_TYPES)[number];

/** A command addressed to one runtime host (`targetNode`) about one agent. */
export interface ControlCommand {
  commandId: string;
  instanceId: string;
  commandType: ControlCommandType;
  issuedAt: number;
  issuedBy: string;
  recoveryStrategy: 'restart' | 'restore' | 'migrate' | 'recreate' | null;
  recoveryTarget: 'last_known_good' | 'previous' | 'clean' | null;
  targetVersion: number | null;
  sourceNode: string | null;
  targetNode: string | null;
  attempt: number;
  /** A command not executed by then is stale and ignored (a restarted host must not replay old starts). */
  deadline: number | null;
  /** The recovery id (or migration id) the command belongs to. */
  correlationId: string | null;
  /** `expectedEpoch`: start only if the agent's epoch is still this one (a newer owner already took it over). */
  parameters: Record<string, string>;
}

/** Heartbeat key of a host on the compacted heartbeats topic (per-agent client heartbeats use the bare instanceId). */
export function heartbeatKey(nodeId: string): string {
  return `node:${nodeId}`;
}
