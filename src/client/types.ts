import type { AccessRecorder } from '../telemetry/access.js';
import type { Logger } from 'pino';
import type { AgentState, Change, StateEvent, StateEventType } from '../domain/index.js';
import type { EventLog } from '../log/port.js';
import { projectorGroup, topicNames } from '../log/topics.js';
import type { EventCodec } from '../codec/event-codec.js';
import type { BlobSource, ChangesetLimits } from '../codec/changeset-blob.js';
import type { TailBootstrap } from './tail.js';

/** The writer SDK's public types (AgentStateClient is in client.ts). */

export interface AgentStateClientOptions {
  log: EventLog;
  codec: EventCodec;
  /** @default 'agentstate.' */
  topicPrefix?: string;
  /** Written into every event's `source`. @default 'agentstate-client' */
  source?: string;
  /** How long a write waits for the log's decision before failing with an unknown outcome. @default 60000 */
  decisionTimeoutMs?: number;
  /** Names this process in heartbeats. @default `<hostname>:<pid>` */
  nodeId?: string;
  /** Appends from different agents within this many ms go out as one batch. @default 0 (next tick) */
  lingerMs?: number;
  /**
   * Largest encoded event accepted, in bytes. A larger one fails with
   * `AS_TOO_LARGE` naming this limit before it is appended, the same on every
   * profile (Kafka's default `message.max.bytes` is 1 MiB; the embedded log has
   * no limit of its own). @default 1000000
   */
  maxEventBytes?: number;
  /**
   * Where large changesets go (the deployment's blob store: files in the data
   * dir embedded, S3 on servers). With it, a changeset above
   * `changesets.claimCheckBytes` is written there before its event is
   * appended, and the event carries its key and SHA-256; the client's view
   * resolves such events too. Without it, an event past `maxEventBytes` fails
   * with `AS_TOO_LARGE`. @default none (the SDK's `open` passes the profile's)
   */
  blobs?: BlobSource;
  /**
   * Claim-check threshold and hard cap of changesets (docs/writer.md, Large changesets).
   * @default { claimCheckBytes: 524288, maxChangesetBytes: 16777216, algorithm: 'lz4' } (DEFAULT_CHANGESET_LIMITS)
   */
  changesets?: Partial<ChangesetLimits>;
  /**
   * Largest `oldValue` (canonical JSON bytes) a change keeps in the event. A
   * larger one (e.g. the turn a chat window drops) is left out and its size
   * written as `oldBytes`: apply and checksums never read it, and it is the
   * value at the change's path in the previous version. `Infinity` keeps
   * every before-image in the log (audit without projecting). @default 256
   */
  oldValueMaxBytes?: number;
  logger?: Logger;
  /** Records each acknowledged write's processing time per agent, for a runtime host's heartbeats (docs/analytics.md, Access figures). */
  access?: AccessRecorder;
  /**
   * Where the view of the log starts. By default from the projector's outputs:
   * heads from the state topic, then each partition from the projector group's
   * commits, so connecting costs the number of agents plus the projector's lag,
   * not the length of the log. `false` folds the whole events topic.
   */
  /**
   * What the client's view of the log holds. `'owned'` (the default) keeps
   * heads only for the agents this client creates, acquires or owns, reads
   * only their partitions when it must, and confirms an owner's write from the
   * broker's acknowledgement plus the claim feed (docs/writer.md "Scoped
   * writers"); `getState` answers only for those agents. `'fleet'` folds the
   * whole events topic and knows every agent's head: for tools that look at
   * agents they do not own (the demo, runtime hosts, the recovery service).
   * Every client and tool that claims agents must announce its claims on the
   * claim feed (this version's clients all do, whatever their scope).
   * @default 'owned'
   */
  scope?: 'fleet' | 'owned';
  bootstrap?: false | { projectorGroup?: string; resolveClaimCheck?: TailBootstrap['resolveClaimCheck'] };
}

/** The seed's StateUpdateResult. */
export interface StateUpdateResult {
  success: boolean;
  newVersion: number;
  previousVersion: number;
  appliedChanges: Change[];
  generatedEvents: StateEvent[];
  checksum: string;
  /** Milliseconds from the call to the log's decision. */
  processingTime: number;
}

export interface UpdateOptions {
  /** Fail fast with ConflictError unless the head is at this version. */
  expectedVersion?: number;
  /** @default 'state_patched' */
  eventType?: StateEventType;
  metadata?: Record<string, string>;
  causationId?: string;
  correlationId?: string;
  /** The seed's `replayable`: false when a replay must not re-emit this event's side effects. @default true */
  replayable?: boolean;
}

/** A change list, or a function that edits a draft copy of the state. */
export type Update = Change[] | ((draft: AgentState) => void);

/** Where the view of the log starts, from the client options. */
export function tailBootstrap(prefix: string | undefined, o: Exclude<AgentStateClientOptions['bootstrap'], false>): TailBootstrap {
  return {
    stateTopic: topicNames(prefix).state,
    projectorGroup: o?.projectorGroup ?? projectorGroup(prefix),
    ...(o?.resolveClaimCheck ? { resolveClaimCheck: o.resolveClaimCheck } : {}),
  };
}
