/** A liveness signal on the compacted `<prefix>heartbeats` topic (schemas/Heartbeat.avsc). */
export interface Heartbeat {
  instanceId: string;
  writerEpoch: number;
  /** The process that owns the agent. */
  nodeId: string;
  timestamp: number;
  /** Increases by one per heartbeat of this client and agent. */
  sequence: number;
  status: string;
  lastVersion: number;
  heapUsedBytes: number | null;
  cpuPercent: number | null;
  metadata: Record<string, string>;
}
