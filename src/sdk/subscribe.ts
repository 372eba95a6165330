import { randomUUID } from 'node:crypto';
import type { BlobStore } from '../blob/port.js';
import { DecodeError } from '../codec/errors.js';
import { checksum, type AgentState } from '../domain/index.js';
import { ChecksumMismatchError } from '../domain/errors.js';
import { AgentStateError, NotFoundError } from '../errors.js';
import type { EventLog, StoredRecord } from '../log/port.js';
import { parseStateTopicValue } from '../log/state-topic.js';
import { decodeState } from '../codec/state-body.js';

/** One agent's latest state as the compacted `<prefix>state` topic carries it, claim check resolved. */
export interface SubscribedState {
  instanceId: string;
  version: number;
  /** Writer epoch of the last applied event. */
  epoch: number;
  /** SHA-256 of the canonical JSON of `state` (DESIGN.md Invariant 2). */
  checksum: string;
  /** Timestamp (ms) of the last applied event. */
  updatedAt: number;
  state: AgentState;
}

export interface SubscribeOptions {
  /**
   * Consumer group: a restart resumes after what this group has processed
   * (an entry counts as processed once the loop asks for the next one, or the
   * `onState` handler resolved). Without a group every call reads the topic
   * from `from`, under a private group name.
   */
  group?: string;
  /** Where a subscription without a committed position starts. @default 'start' */
  from?: 'start' | 'end';
  /** Stops the subscription; the iterator then ends (no error). */
  signal?: AbortSignal;
  /** Recompute each state's checksum and fail on a mismatch (DESIGN.md Invariant 6). @default true */
  verify?: boolean;
  /** Called for a tombstone (the agent is gone); tombstones are not yielded as states. */
  onDelete?: (instanceId: string) => void | Promise<void>;
}

/** Options with a handler: `subscribe` then returns a promise that settles when the subscription stops. */
export interface SubscribeHandlerOptions extends SubscribeOptions {
  onState: (state: SubscribedState) => void | Promise<void>;
}

export interface StateTopicSource {
  log: EventLog;
  blobs: BlobStore;
  /** `<prefix>state`. */
  topic: string;
  prefix: string;
}

/**
 * Downstream reading of the compacted state topic (DESIGN.md The shape: "new
 * downstream consumers bootstrap from it"). Back-pressure is real: a batch's
 * offsets are committed only after the caller has taken every state in it, so
 * a crashed subscriber with a group re-reads, never skips (Invariant 4).
 */
export function subscribeStates(source: StateTopicSource, options: SubscribeOptions = {}): AsyncIterable<SubscribedState> {
  return { [Symbol.asyncIterator]: () => iterate(source, options) };
}

async function* iterate(source: StateTopicSource, options: SubscribeOptions): AsyncGenerator<SubscribedState> {
  const verify = options.verify ?? true;
  const queue: SubscribedState[] = [];
  let enqueued = 0;
  let finished = 0;
  let stopped = false;
  let ended = false;
  let failure: unknown;
  // One pulse both sides wait on and re-check their condition after (handler: "all taken?"; loop: "anything new?").
  let pulse = deferred();
  const notify = () => {
    const p = pulse;
    pulse = deferred();
    p.resolve();
  };
  const stop = new AbortController();
  const onAbort = () => {
    stopped = true;
    stop.abort();
    notify();
  };
  if (options.signal?.aborted) return;
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const consumer = await source.log.consume({
    group: options.group ?? `${source.prefix}subscriber-${randomUUID()}`,
    topics: [source.topic],
    fromBeginning: (options.from ?? 'start') === 'start',
    signal: stop.signal,
    handler: async (batch) => {
      const values: SubscribedState[] = [];
      for (const record of batch.records) {
        if (record.value === null) {
          await options.onDelete?.(record.key);
          continue;
        }
        values.push(await decode(source.blobs, record, verify));
      }
      queue.push(...values);
      enqueued += values.length;
      const target = enqueued;
      notify();
      while (finished < target) {
        // Thrown, not returned: a batch the caller did not take must not be committed.
        if (stopped) throw new AgentStateError('AS_ABORTED', 'subscription stopped');
        await pulse.promise;
      }
    },
  });
  consumer.done.then(
    () => ((ended = true), notify()),
    (e: unknown) => {
      if (!stopped) failure = e;
      ended = true;
      notify();
    },
  );
  try {
    for (;;) {
      const next = queue.shift();
      if (next !== undefined) {
        yield next;
        finished++;
        notify();
        continue;
      }
      if (failure !== undefined) throw failure;
      if (stopped || ended) return;
      await pulse.promise;
    }
  } finally {
    stopped = true;
    options.signal?.removeEventListener('abort', onAbort);
    stop.abort();
    notify();
    await consumer.stop().catch(() => undefined);
    await consumer.done.catch(() => undefined);
  }
}

/** Promise.withResolvers is Node 22+; Node 20 is still supported. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function decode(blobs: BlobStore, record: StoredRecord, verify: boolean): Promise<SubscribedState> {
  const where = `state-topic record ${record.topic}/${record.partition}@${record.offset}`;
  const value = parseStateTopicValue(record.value!);
  if (value === undefined) throw new DecodeError(where, 'not a state-topic value (JSON with instanceId, version, epoch, checksum, position)');
  let state: unknown;
  if ('claimCheck' in value) {
    const bytes = await blobs.get(value.claimCheck.blobKey);
    if (bytes === undefined) throw new NotFoundError(`claim-checked state ${value.claimCheck.blobKey} of ${where}`);
    state = await decodeState(value.claimCheck.encoding, bytes);
  } else {
    state = value.state;
  }
  if (verify) {
    const actual = checksum(state);
    if (actual !== value.checksum) throw new ChecksumMismatchError(`${where} (agent ${value.instanceId} v${value.version})`, value.checksum, actual);
  }
  return { instanceId: value.instanceId, version: value.version, epoch: value.epoch, checksum: value.checksum, updatedAt: value.updatedAt, state: state as AgentState };
}
