import type { Logger } from 'pino';
import { checksum, decide, readEventRecord, step, type JsonValue, type Projection, type RejectReason, type StateEvent } from '../domain/index.js';
import { AgentStateError, ClosedError, UnavailableError } from '../errors.js';
import { historyGone } from './log-start.js';
import { newestStateValues, type TailBootstrap } from './head-source.js';
import type { EventLog, StoredRecord } from '../log/port.js';
import type { EventCodec } from '../codec/event-codec.js';

export type { TailBootstrap };

/** The decision the log made about one event, as every replay will make it (DESIGN.md Invariant 3). */
export type Outcome = { accept: true; projection: Projection } | { accept: false; reason: RejectReason; detail?: string };

/** Headers every event record carries, so a reader can decide without decoding the body. */
export const HEADER = { eventId: 'eventId', version: 'version', epoch: 'writerEpoch', type: 'eventType', stateSizeDelta: 'stateSizeDelta' } as const;

interface Waiter {
  resolve(outcome: Outcome): void;
  reject(err: unknown): void;
  /** The projection the writer computed, used when the log accepts its own event. */
  expected: Projection;
}

export interface TailReaderOptions {
  log: EventLog;
  codec: EventCodec;
  topic: string;
  logger?: Logger;
  /** How long one fetch waits on the log for a record when the view is at the end. @default 200 */
  fetchWaitMs?: number;
  /** Told of every accepted event of another writer (fencing detection). */
  onForeignAccepted?: (event: StateEvent, projection: Projection) => void;
  /**
   * Start from the projector's outputs instead of folding the events topic
   * from its first offset: heads from the compacted state topic, then each
   * partition from the projector group's committed offset. Omitted = fold
   * everything (a log no projector has processed yet).
   */
  bootstrap?: TailBootstrap;
}

/** What a start cost: how many heads came from the state topic and how many event records were folded. */
export interface TailStats {
  bootstrappedHeads: number;
  foldedRecords: number;
  /** Where the fold started, per partition (the scoped view has no fixed start: empty). */
  startOffsets: Record<number, string>;
  /** Bytes of record keys and values read from the log (events, state and claims topics). */
  bytesRead?: number;
  /** Agents whose heads the view keeps (the scoped view). */
  trackedAgents?: number;
  /**
   * Where the fleet view's start went, in milliseconds: `offsets` (the
   * events topic's start offsets, the projector's commits and the state
   * topic's bounds), `stateRead` (reading the state topic), `heads` (parsing
   * its values and checking their checksums), `fold` (folding the events
   * topic from there to its end).
   */
  stages?: Record<string, number>;
}

/**
 * The writer's view of the log: folds the events topic from the beginning
 * with the same acceptance rules as the projector (domain `step`), so the
 * writer learns exactly what the log decided for its own events. A claim of
 * ownership is decided by log order, and so is every write.
 */
export class TailReader {
  private readonly heads = new Map<string, Projection>();
  /** Offsets of the events that bootstrapped heads reflect: earlier records of those agents are already folded in. */
  private readonly reflected = new Map<string, bigint>();
  private readonly counters: TailStats & { bytesRead: number } = { bootstrappedHeads: 0, foldedRecords: 0, startOffsets: {}, bytesRead: 0 };
  private readonly waiters = new Map<string, Waiter>();
  private readonly positions = new Map<number, bigint>();
  private readonly positionWaiters: Array<{ partition: number; offset: bigint; resolve: () => void; reject: (e: unknown) => void }> = [];
  private failure: unknown;
  private stopped = false;
  /** The fetch loop following the events topic, once started. */
  private following: Promise<void> | undefined;
  private readonly stages: Record<string, number> = {};

  constructor(private readonly options: TailReaderOptions) {}

  /**
   * Positions the view (from the projector's outputs when it can), starts
   * following the events topic, and resolves once the fold has reached the
   * topic's end as it was when called: the writer is then exactly at the head.
   */
  async open(): Promise<void> {
    await this.start();
    const t = performance.now();
    await this.catchUp();
    this.stages.fold = performance.now() - t;
  }

  async start(): Promise<void> {
    const { log, topic } = this.options;
    const t = performance.now();
    const b = this.options.bootstrap;
    // The events topic's bounds, together with the projector's commits and then the state topic's bounds. The
    // state topic's end must be read after the commits (never together): a commit that moved after that end was
    // read would promise states past it, and the fold would skip events whose states were not read.
    const bootstrapBounds = async (): Promise<{ committed: Record<number, string>; bounds?: [Record<number, string>, Record<number, string>] }> => {
      if (!b) return { committed: {} };
      const committed = await log.committedOffsets(b.projectorGroup, topic).catch(() => ({}) as Record<number, string>);
      if (Object.keys(committed).length === 0) return { committed };
      return { committed, bounds: await Promise.all([log.startOffsets(b.stateTopic), log.endOffsets(b.stateTopic)]) };
    };
    const [start, { committed, bounds: stateBounds }] = await Promise.all([log.startOffsets(topic), bootstrapBounds()]);
    this.stages.offsets = performance.now() - t;
    for (const [p, o] of Object.entries(start)) this.positions.set(Number(p), BigInt(o));
    const anchored = new Set<number>();
    if (b && stateBounds) await this.bootstrap(b, committed, stateBounds, anchored);
    // A partition folded from a start past 0 would miss the heads of the history deleted below it.
    for (const [p, o] of this.positions) if (o > 0n && !anchored.has(p)) throw historyGone(topic, p, o, `the agents of partition ${p}`);
    for (const [p, o] of this.positions) this.counters.startOffsets[p] = o.toString();
    this.following = this.follow();
  }

  /**
   * Heads from the state topic, and fold positions from the projector's
   * commits. Sound because the projector appends a batch's states before it
   * commits the batch (Invariant 4): every event below a committed offset is
   * reflected in its agent's newest state value. Per agent the value with the
   * highest version wins (after a rebuild, older versions are appended
   * again), and records at or before that value's position are skipped.
   */
  private async bootstrap(b: TailBootstrap, committed: Record<number, string>, [from, until]: [Record<number, string>, Record<number, string>], anchored: Set<number>): Promise<void> {
    // The commits were read first (together with these bounds): states for everything below them are already on the topic.
    let t = performance.now();
    const parts = await Promise.all(Object.entries(until).map(([p, end]) => this.options.log.read(b.stateTopic, Number(p), from[Number(p)] ?? '0', end)));
    this.stages.stateRead = performance.now() - t;
    t = performance.now();
    const { latest, bytesRead } = newestStateValues(parts);
    this.counters.bytesRead += bytesRead;
    const fromStart = new Set<number>();
    for (const v of latest.values()) {
      let state: JsonValue;
      if ('state' in v) state = v.state as JsonValue;
      else if (b.resolveClaimCheck) state = await b.resolveClaimCheck(v);
      else {
        fromStart.add(v.position.partition);
        continue;
      }
      if (checksum(state) !== v.checksum) {
        this.options.logger?.warn({ instanceId: v.instanceId, version: v.version }, 'state topic value does not match its checksum; folding its partition from the start');
        fromStart.add(v.position.partition);
        continue;
      }
      this.heads.set(v.instanceId, { version: v.version, epoch: v.epoch, state, checksum: v.checksum });
      this.reflected.set(v.instanceId, BigInt(v.position.offset));
    }
    for (const [p, first] of this.positions) {
      const c = committed[p];
      if (c === undefined || fromStart.has(p) || BigInt(c) < first) continue;
      this.positions.set(p, BigInt(c));
      anchored.add(p);
    }
    this.counters.bootstrappedHeads = this.heads.size;
    this.stages.heads = performance.now() - t;
  }

  /** What the start cost, and how much has been folded since. */
  stats(): TailStats {
    return { ...this.counters, startOffsets: { ...this.counters.startOffsets }, trackedAgents: this.heads.size, stages: { ...this.stages } };
  }

  /**
   * Follows the events topic from the positions folded so far with plain
   * fetches of every partition (no consumer group: nothing to join, position
   * or rebalance). A failed fetch is retried after a pause while the error is
   * retryable (a broker restart, a moved leader); any other error fails the
   * view, and every write waiting on it.
   */
  private async follow(): Promise<void> {
    const { log, topic, logger } = this.options;
    const wait = this.options.fetchWaitMs ?? 200;
    let failures = 0;
    while (!this.stopped) {
      let got;
      try {
        got = await log.fetch(topic, Object.fromEntries([...this.positions].map(([p, o]) => [p, o.toString()])), wait);
        failures = 0;
      } catch (err) {
        if (this.stopped) return;
        if (!(err instanceof AgentStateError && err.retryable)) return this.fail(err);
        failures++;
        if (failures === 1 || failures % 20 === 0) logger?.warn({ err, topic, failures }, "the writer's view of the log could not fetch; retrying");
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** Math.min(failures, 6))));
        continue;
      }
      if (this.stopped) return;
      try {
        for (const record of got.records) {
          if (BigInt(record.offset) < (this.positions.get(record.partition) ?? 0n)) continue;
          await this.apply(record);
          this.advance(record.partition, BigInt(record.offset) + 1n);
        }
      } catch (err) {
        // A record the fold cannot apply (the codec failed): the view is no longer exact.
        return this.fail(err);
      }
      for (const [p, o] of Object.entries(got.next)) if (BigInt(o) > (this.positions.get(Number(p)) ?? 0n)) this.advance(Number(p), BigInt(o));
    }
  }

  /** The confirmed head of an agent, as the log decided it so far. */
  head(instanceId: string): Projection | undefined {
    return this.heads.get(instanceId);
  }

  /** Registers interest in the outcome of an event before it is appended. */
  expect(eventId: string, expected: Projection): Promise<Outcome> {
    if (this.failure !== undefined) return Promise.reject(this.unavailable());
    return new Promise<Outcome>((resolve, reject) => this.waiters.set(eventId, { resolve, reject, expected }));
  }

  forget(eventId: string): void {
    this.waiters.delete(eventId);
  }

  /** Resolves once every record below `offset` in `partition` has been folded. */
  waitFor(partition: number, offset: string): Promise<void> {
    const target = BigInt(offset);
    if ((this.positions.get(partition) ?? 0n) >= target) return Promise.resolve();
    if (this.failure !== undefined) return Promise.reject(this.unavailable());
    return new Promise((resolve, reject) => this.positionWaiters.push({ partition, offset: target, resolve, reject }));
  }

  /** Waits until the fold has reached the topic's current end: the writer is then exactly at the head. */
  async catchUp(): Promise<void> {
    const end = await this.options.log.endOffsets(this.options.topic);
    await Promise.all(Object.entries(end).map(([p, o]) => this.waitFor(Number(p), o)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // The fetch in flight ends within its wait; a broker that does not answer is not waited for.
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, 2 * (this.options.fetchWaitMs ?? 200) + 100)));
    await Promise.race([this.following, bound]);
    clearTimeout(timer);
    this.fail(new ClosedError('the writer client'));
  }

  private async apply(record: StoredRecord): Promise<void> {
    const id = record.key;
    this.counters.foldedRecords++;
    this.counters.bytesRead += (record.value?.length ?? 0) + record.key.length;
    const reflected = this.reflected.get(id);
    if (reflected !== undefined) {
      if (BigInt(record.offset) <= reflected) return; // already in the bootstrapped head
      this.reflected.delete(id);
    }
    const head = this.heads.get(id);
    const eventId = record.headers[HEADER.eventId];
    const waiter = eventId === undefined ? undefined : this.waiters.get(eventId);
    if (waiter && eventId !== undefined) {
      // Our own event: decide from the headers; the state after it is the one
      // the writer computed and checksummed before appending.
      this.waiters.delete(eventId);
      const decision = decide(head, {
        version: Number(record.headers[HEADER.version]) as StateEvent['version'],
        writerEpoch: Number(record.headers[HEADER.epoch]) as StateEvent['writerEpoch'],
        eventType: record.headers[HEADER.type] as StateEvent['eventType'],
      });
      if (decision.accept) {
        this.heads.set(id, waiter.expected);
        waiter.resolve({ accept: true, projection: waiter.expected });
      } else {
        waiter.resolve(decision);
      }
      return;
    }
    const reading = await readEventRecord(record, this.options.codec);
    if (reading.kind === 'tombstone') return;
    if (reading.kind === 'rejected') {
      this.options.logger?.warn({ reason: reading.reason, detail: reading.detail, partition: record.partition, offset: record.offset }, 'event record skipped');
      return;
    }
    const event = reading.event;
    const result = step(head, event);
    if (result.accept) {
      this.heads.set(id, result.projection);
      this.options.onForeignAccepted?.(event, result.projection);
    }
  }

  private advance(partition: number, next: bigint): void {
    this.positions.set(partition, next);
    for (let i = this.positionWaiters.length - 1; i >= 0; i--) {
      const w = this.positionWaiters[i]!;
      if (w.partition === partition && next >= w.offset) {
        this.positionWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  private unavailable(): UnavailableError {
    return new UnavailableError("the writer client's view of the event log", { cause: this.failure });
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    const e = this.unavailable();
    for (const w of this.waiters.values()) w.reject(e);
    this.waiters.clear();
    for (const w of this.positionWaiters.splice(0)) w.reject(e);
  }
}
