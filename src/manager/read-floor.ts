/**
 * The highest version a StateManager has returned per agent, so it never
 * returns less (docs/projector.md, Read consistency). Bounded: past
 * `maxAgents` the least recently read agent is forgotten, and for it the
 * guarantee falls back to what the cache and store give every reader (the
 * cache never holds less than the store).
 */
export class ReadFloor {
  private readonly versions = new Map<string, number>();

  constructor(private readonly maxAgents: number) {}

  /** The highest version returned for the agent; 0 when none is remembered. */
  get(instanceId: string): number {
    return this.versions.get(instanceId) ?? 0;
  }

  /** Records a returned version (never lowers the floor) and marks the agent most recently read. */
  raise(instanceId: string, version: number): void {
    const floor = Math.max(version, this.versions.get(instanceId) ?? 0);
    // Re-inserting moves the agent to the end of the Map's order: the first key is the least recently read.
    this.versions.delete(instanceId);
    this.versions.set(instanceId, floor);
    if (this.versions.size > this.maxAgents) {
      const oldest = this.versions.keys().next();
      if (!oldest.done) this.versions.delete(oldest.value);
    }
  }

  /** Forgets an agent (its current state is gone from the store). */
  forget(instanceId: string): void {
    this.versions.delete(instanceId);
  }

  get size(): number {
    return this.versions.size;
  }
}
