import type { AgentState } from '../domain/index.js';
import type { SnapshotType } from '../store/port.js';
import type { ReplayError } from './time-travel.js';

/** An agent's state as the StateManager returns it. */
export interface StateView {
  instanceId: string;
  version: number;
  epoch: number;
  checksum: string;
  /** Timestamp (ms) of the last applied event. */
  updatedAt: number;
  state: AgentState;
  /** Where it was read from. */
  source: 'cache' | 'store';
}

/** One entry of an agent's version history. */
export interface VersionInfo {
  version: number;
  epoch: number;
  eventId: string;
  eventType: string;
  timestamp: number;
  stateChecksum: string;
}

/** The seed's EventReplayResult. */
export interface EventReplayResult {
  instanceId: string;
  fromVersion: number;
  toVersion: number;
  eventsReplayed: number;
  finalVersion: number;
  finalState: AgentState;
  checksum: string;
  /** True when the final checksum equals the one the log recorded for that version. */
  verified: boolean;
  errors: ReplayError[];
  /** Milliseconds. */
  duration: number;
}

export interface CreateSnapshotOptions {
  /** @default 'checkpoint' */
  type?: Extract<SnapshotType, 'full' | 'checkpoint'>;
  /** @default 'manual' */
  trigger?: string;
  /**
   * Also append `snapshot_created` to the agent's history, through the
   * manager's writer when it owns the agent (never otherwise). @default true
   */
  recordEvent?: boolean;
  /** @default the policy's retention */
  expiresAt?: number | null;
  permanent?: boolean;
  critical?: boolean;
}

/** What `cleanupOldStates` keeps. */
export interface RetentionPolicy {
  /** Keep at least this many newest snapshots. @default 3 */
  keepLast?: number;
  /** Only delete snapshots created before now - this. @default 0 */
  olderThanMs?: number;
}

/** How `compactEvents` trims the event mirror (the log itself is never touched: DESIGN.md Invariant 5). */
export type CompactionStrategy =
  /** Drop mirror rows below the newest full or checkpoint snapshot: time travel still works from it. */
  | { strategy: 'before_snapshot' }
  /** Drop mirror rows below a version (time travel below it is then impossible). */
  | { strategy: 'before_version'; version: number };
