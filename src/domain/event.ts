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
 * Where a claim-checked changeset lives (issue 12 §6): a changeset too large
 * for a log record is written to the blob store first, then the event is
 * appended with this reference instead of its changes (docs/writer.md, Large
 * changesets). Readers resolve it through `readEventRecord`, never on their own.
 */
export interface ChangesetRef {
  /** `changesets/<agent key segment>/<sha256>`: content-addressed, so a retry cannot put two bodies under one key. */
  blobKey: string;
  /** SHA-256 (hex) of the changeset's canonical JSON. */
  sha256: string;
  /** UTF-8 bytes of the changeset's canonical JSON (what analytics counts without fetching it). */
  bytes: number;
  /** Number of changes in it. */
  changes: number;
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
  /**
   * Set when the changeset was claim-checked: on the wire `changeset` is then
   * empty and the blob named here holds it; once read through
   * `readEventRecord`, `changeset` holds the resolved changes and this stays set.
   */
  changesetRef?: ChangesetRef;
}
