/**
 * One agent's access figures over one interval, as a process measured them
 * (docs/analytics.md, Access figures): reads of its current state through a
 * StateManager (and whether the cache answered), and writes through the
 * writer SDK (time from the call to the log's decision).
 */
export interface AgentAccess {
  instanceId: string;
  reads: number;
  /** Sum of the reads' durations, ms. */
  readMsTotal: number;
  /** Reads the cache answered. */
  cacheHits: number;
  /** Reads that went to the store although a cache was configured. */
  cacheMisses: number;
  /** Acknowledged writes (events the log accepted). */
  writes: number;
  /** Sum of the writes' processing times (call → the log's decision), ms. */
  writeMsTotal: number;
}

/** Adds `from`'s counts to `into`. */
export function addAccessCounts(into: Omit<AgentAccess, 'instanceId'>, from: Omit<AgentAccess, 'instanceId'>): void {
  into.reads += from.reads;
  into.readMsTotal += from.readMsTotal;
  into.cacheHits += from.cacheHits;
  into.cacheMisses += from.cacheMisses;
  into.writes += from.writes;
  into.writeMsTotal += from.writeMsTotal;
}

/** An interval with no access: the figures start here. */
export function noAccess(instanceId: string): AgentAccess {
  return { instanceId, reads: 0, readMsTotal: 0, cacheHits: 0, cacheMisses: 0, writes: 0, writeMsTotal: 0 };
}

/**
 * Per-agent access counters of one process, drained into each runtime host
 * heartbeat (`access`, schemas/Heartbeat.avsc): what analytics turns into
 * average read and write time and the cache hit rate per agent. Recording is
 * a map update, off the log: it adds nothing to a write's round trip.
 */
export class AccessRecorder {
  private agents = new Map<string, AgentAccess>();

  private of(instanceId: string): AgentAccess {
    let a = this.agents.get(instanceId);
    if (!a) this.agents.set(instanceId, (a = noAccess(instanceId)));
    return a;
  }

  /** A read of the agent's current state that took `ms`; `cache` says who answered (`none`: no cache configured). */
  read(instanceId: string, ms: number, cache: 'hit' | 'miss' | 'none'): void {
    const a = this.of(instanceId);
    a.reads++;
    a.readMsTotal += ms;
    if (cache === 'hit') a.cacheHits++;
    else if (cache === 'miss') a.cacheMisses++;
  }

  /** An acknowledged write that took `ms` from the call to the log's decision. */
  write(instanceId: string, ms: number): void {
    const a = this.of(instanceId);
    a.writes++;
    a.writeMsTotal += ms;
  }

  /** The figures since the last drain, by agent id, and a fresh interval. */
  drain(): AgentAccess[] {
    const out = [...this.agents.values()].sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
    this.agents = new Map();
    return out;
  }

  /** Puts drained figures back (their heartbeat was not appended), so the next one carries them. */
  restore(drained: readonly AgentAccess[]): void {
    for (const d of drained) addAccessCounts(this.of(d.instanceId), d);
  }
}
