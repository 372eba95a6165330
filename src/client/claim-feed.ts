import type { EventLog } from '../log/port.js';
import { TicketedRun } from './coalesce.js';

/**
 * The claim feed (`<prefix>claims`): before a scoped writer appends an
 * `ownership_acquired` with epoch E, it announces `{instanceId, epoch: E}`
 * here and waits for the broker's ack. So a claim that is in the events topic
 * was announced here before it got there, and an owner at epoch E that finds
 * no announcement above E, read after its own record was acknowledged, knows
 * no claim precedes that record: the log will accept it (docs/writer.md
 * "Scoped writers"). Records are tiny and rare (one per acquire), and a reader
 * reads only the partitions of the agents it tracks.
 */
export class ClaimFeed {
  /** Next offset to read, per feed partition this reader tracks. */
  private readonly positions = new Map<number, bigint>();
  /** Highest epoch announced for each tracked agent since tracking began. */
  private readonly announced = new Map<string, number>();
  private readonly tracked = new Set<string>();
  private readonly reads = new TicketedRun(() => this.readToEnd());
  bytesRead = 0;

  constructor(
    private readonly log: EventLog,
    private readonly topic: string,
  ) {}

  /**
   * Starts watching an agent. Call before reading its head: every
   * announcement made after that read (the only ones that can carry a higher
   * epoch than the claim this reader is about to make) is then read.
   */
  async track(instanceId: string): Promise<void> {
    this.tracked.add(instanceId);
    const p = await this.log.partitionFor(this.topic, instanceId);
    if (this.positions.has(p)) return;
    const end = await this.log.endOffsets(this.topic);
    if (!this.positions.has(p)) this.positions.set(p, BigInt(end[p] ?? '0'));
  }

  untrack(instanceId: string): void {
    this.tracked.delete(instanceId);
    this.announced.delete(instanceId);
  }

  /** Announces a claim; resolves once the broker has acknowledged it. */
  async announce(instanceId: string, epoch: number, by: string): Promise<void> {
    await this.log.append(this.topic, [{ key: instanceId, value: Buffer.from(JSON.stringify({ instanceId, epoch, by })) }]);
  }

  /** Marks a moment (e.g. a write's acknowledgement) that a later {@link sync} must read after. */
  ticket(): number {
    return this.reads.ticket();
  }

  /**
   * Reads what was announced up to the feed's end, in a read that starts
   * after `since` (a {@link ticket}; by default this call): callers whose
   * tickets precede a read under way share it.
   */
  sync(since?: number): Promise<void> {
    return this.reads.run(since);
  }

  /** Highest epoch announced for the agent, as of the last sync. */
  highest(instanceId: string): number {
    return this.announced.get(instanceId) ?? 0;
  }

  private async readToEnd(): Promise<void> {
    if (this.positions.size === 0) return;
    const end = await this.log.endOffsets(this.topic);
    await Promise.all(
      [...this.positions].map(async ([p, from]) => {
        const until = BigInt(end[p] ?? '0');
        if (until <= from) return;
        for (const r of await this.log.read(this.topic, p, from.toString(), until.toString())) {
          this.bytesRead += (r.value?.length ?? 0) + r.key.length;
          if (!this.tracked.has(r.key) || r.value === null) continue;
          const epoch = parseEpoch(r.value);
          if (epoch > (this.announced.get(r.key) ?? 0)) this.announced.set(r.key, epoch);
        }
        this.positions.set(p, until);
      }),
    );
  }
}

/** An unreadable announcement counts as the highest epoch: its agent is then decided by reading the log. */
function parseEpoch(value: Buffer): number {
  try {
    const epoch = (JSON.parse(value.toString('utf8')) as { epoch?: unknown }).epoch;
    return typeof epoch === 'number' && Number.isSafeInteger(epoch) ? epoch : Number.MAX_SAFE_INTEGER;
  } catch {
    return Number.MAX_SAFE_INTEGER;
  }
}
