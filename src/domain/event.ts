import type { Change } from './changeset.js';
import type { StateEventType } from './event-types.js';
import type { Epoch, InstanceId, Version } from './ids.js';

/** Set on events re-emitted by a replay, so consumers can tell them apart. */
export interface ReplayInfo {
  isReplay: boolean;
  originalEventId: string | null;
  replayedAt: number | null;
}

/**
 * One state event (DESIGN.md State, events, versions). Its `changeset` moves
 * the state at `version - 1` to the state at `version`, whose canonical-JSON
 * SHA-256 is `stateChecksum` (Invariant 2).
 */
export interface StateEvent {
  eventId: string;
  instanceId: InstanceId;
  version: Version;
  writerEpoch: Epoch;
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
  eventType: StateEventType;
  source: string;
  causationId: string | null;
  correlationId: string | null;
  changeset: Change[];
  metadata: Record<string, string>;
  stateChecksum: string;
  replay: ReplayInfo | null;
  /**
   * The seed's `replayable`: false when a replay must not re-emit this
   * event's side effects (a message already sent, a payment made). The fold
   * applies every accepted event whatever this says, so state reconstruction
   * never skips one (Invariant 2). Set by the writer (`UpdateOptions.replayable`).
   */
  replayable: boolean;
}
