import type { Projection, StateEvent } from '../domain/index.js';
import type { AppendResult } from '../log/port.js';
import type { Outcome, TailReader, TailStats } from './tail.js';

/** A write registered before its append; its decision follows the append's result. */
export interface PendingDecision {
  decided(appended: AppendResult): Promise<Outcome>;
  /** The append failed or its outcome is unknown: nothing will decide it. */
  abandon(): void;
}

/**
 * What the client needs from its view of the log, whichever scope it has
 * (docs/writer.md): the fleet view folds the whole events topic; the scoped
 * view keeps only the agents this client owns or is acquiring.
 */
export interface WriterView {
  stats(): TailStats;
  stop(): Promise<void>;
  head(instanceId: string): Projection | undefined;
  /** Makes the agent's head exact at the log's current end (before a create or a claim). */
  ready(instanceId: string): Promise<void>;
  /**
   * Called before an update is built: when an earlier write of this agent has
   * an unknown outcome, reads the log to its end so the update is built on
   * that record if it landed (it would otherwise take its version and be
   * refused). The decision of the update still reads the log.
   */
  settle(instanceId: string): Promise<void>;
  /** Called before appending a claim with this epoch. */
  claiming(instanceId: string, epoch: number): Promise<void>;
  /** The client stopped writing the agent. */
  released(instanceId: string): void;
  expect(event: StateEvent, expected: Projection): PendingDecision;
}

/** The fleet view: a TailReader folding every record of the events topic. */
export class FleetView implements WriterView {
  /** Agents with a write whose outcome is unknown. */
  private readonly unknown = new Set<string>();

  constructor(
    private readonly tail: TailReader,
    /** Claims are announced on the claim feed whatever the view: scoped owners rely on it. */
    private readonly announce: (instanceId: string, epoch: number) => Promise<void>,
  ) {}

  stats(): TailStats {
    return this.tail.stats();
  }

  stop(): Promise<void> {
    return this.tail.stop();
  }

  head(instanceId: string): Projection | undefined {
    return this.tail.head(instanceId);
  }

  ready(): Promise<void> {
    return this.tail.catchUp();
  }

  async settle(instanceId: string): Promise<void> {
    if (!this.unknown.delete(instanceId)) return;
    await this.tail.catchUp();
  }

  claiming(instanceId: string, epoch: number): Promise<void> {
    return this.announce(instanceId, epoch);
  }

  released(): void {}

  expect(event: StateEvent, expected: Projection): PendingDecision {
    const decided = this.tail.expect(event.eventId, expected);
    // Rejections are taken by whoever awaits `decided`; an abandoned one must not surface as unhandled.
    decided.catch(() => undefined);
    return {
      decided: () => decided,
      abandon: () => {
        this.unknown.add(event.instanceId);
        this.tail.forget(event.eventId);
      },
    };
  }
}
