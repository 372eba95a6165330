import type { Logger } from 'pino';
import { checksum, decide, readEventRecord, step, type JsonValue, type Projection, type RejectReason, type StateEvent } from '../domain/index.js';
import { ClosedError, UnavailableError } from '../errors.js';
import { historyGone } from './log-start.js';
import type { Consumer, EventLog, StoredRecord } from '../log/port.js';
import { parseStateTopicValue, type ClaimCheckedStateValue, type StateTopicValue } from '../log/state-topic.js';
import type { EventCodec } from '../codec/event-codec.js';

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
  group: string;
  logger?: Logger;
  /** How often to check that the view is moving. @default 5000 */
  stallCheckMs?: number;
  /** Restart the consumer when records wait and nothing was folded for this long. @default 10000 */
  stallAfterMs?: number;
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

export interface TailBootstrap {
  /** The compacted state topic the projector publishes (it must publish it: the default). */
  stateTopic: string;
  /** The projector's consumer group on the events topic. */
  projectorGroup: string;
  /** Fetches a claim-checked (large) state; without it, such an agent's partition is folded from the start. */
  resolveClaimCheck?: (value: ClaimCheckedStateValue) => Promise<JsonValue>;
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
  private consumer: Consumer | undefined;
  private failure: unknown;
  private watchdog: NodeJS.Timeout | undefined;
  private progressAt = Date.now();
  private restarting = false;
  private generation = 0;
  private stopped = false;

  constructor(private readonly options: TailReaderOptions) {}

  async start(): Promise<void> {
    const { log, topic } = this.options;
    const start = await log.startOffsets(topic);
    for (const [p, o] of Object.entries(start)) this.positions.set(Number(p), BigInt(o));
    const anchored = new Set<number>();
    if (this.options.bootstrap) await this.bootstrap(this.options.bootstrap, anchored);
    // A partition folded from a start past 0 would miss the heads of the history deleted below it.
    for (const [p, o] of this.positions) if (o > 0n && !anchored.has(p)) throw historyGone(topic, p, o, `the agents of partition ${p}`);
    for (const [p, o] of this.positions) this.counters.startOffsets[p] = o.toString();
    await this.subscribe();
    this.watchdog = setInterval(() => void this.checkProgress(), this.options.stallCheckMs ?? 5000);
    this.watchdog.unref();
  }

  /**
   * Heads from the state topic, and fold positions from the projector's
   * commits. Sound because the projector appends a batch's states before it
   * commits the batch (Invariant 4): every event below a committed offset is
   * reflected in its agent's newest state value. Per agent the value with the
   * highest version wins (after a rebuild, older versions are appended
   * again), and records at or before that value's position are skipped.
   */
  private async bootstrap(b: TailBootstrap, anchored: Set<number>): Promise<void> {
    const { log, topic, logger } = this.options;
    // Commits first: states for everything below them are already on the topic.
    const committed = await log.committedOffsets(b.projectorGroup, topic).catch(() => ({}) as Record<number, string>);
    if (Object.keys(committed).length === 0) return;
    const latest = new Map<string, StateTopicValue>();
    const [from, until] = await Promise.all([log.startOffsets(b.stateTopic), log.endOffsets(b.stateTopic)]);
    for (const [p, end] of Object.entries(until)) {
      for (const r of await log.read(b.stateTopic, Number(p), from[Number(p)] ?? '0', end)) {
        this.counters.bytesRead += (r.value?.length ?? 0) + r.key.length;
        if (r.value === null) {
          latest.delete(r.key); // a tombstone: the agent is gone
          continue;
        }
        const v = parseStateTopicValue(r.value);
        if (v && v.instanceId === r.key && v.version >= (latest.get(r.key)?.version ?? 0)) latest.set(r.key, v);
      }
    }
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
        logger?.warn({ instanceId: v.instanceId, version: v.version }, 'state topic value does not match its checksum; folding its partition from the start');
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
  }

  /** What the start cost, and how much has been folded since. */
  stats(): TailStats {
    return { ...this.counters, startOffsets: { ...this.counters.startOffsets }, trackedAgents: this.heads.size };
  }

  /** (Re)starts the consumer exactly at the positions folded so far. */
  private async subscribe(): Promise<void> {
    const { log, topic } = this.options;
    // A restart takes a fresh private group: the stalled consumer's member may
    // linger in the old one, and a group with members cannot be repositioned.
    const group = this.generation === 0 ? this.options.group : `${this.options.group}-r${this.generation}`;
    this.generation++;
    const offsets = Object.fromEntries([...this.positions].map(([p, o]) => [p, o.toString()]));
    // A private group positioned explicitly, so no event is missed or folded twice.
    await log.resetGroup(group, topic, { to: 'offsets', offsets });
    const consumer = await log.consume({
      group,
      topics: [topic],
      handler: async (batch) => {
        for (const record of batch.records) {
          // After a restart, Kafka may hand back records already folded.
          if (BigInt(record.offset) < (this.positions.get(batch.partition) ?? 0n)) continue;
          await this.apply(record);
          this.advance(batch.partition, BigInt(record.offset) + 1n);
        }
        this.progressAt = Date.now();
      },
    });
    this.consumer = consumer;
    void consumer.done.catch((err: unknown) => {
      if (this.consumer === consumer && !this.restarting) this.fail(err);
    });
  }

  /**
   * A consumer can stall after a broker restart while it waits out kafkajs's
   * own retries. When records are waiting and nothing was folded for a while,
   * restart it from the folded positions: writers then get their decisions
   * instead of hanging (seen in test/e2e/broker-kill.e2e.test.ts).
   */
  private async checkProgress(): Promise<void> {
    if (this.restarting || this.failure !== undefined || this.stopped) return;
    if (this.waiters.size === 0 && this.positionWaiters.length === 0) return;
    if (Date.now() - this.progressAt < (this.options.stallAfterMs ?? 10_000)) return;
    const end = await this.options.log.endOffsets(this.options.topic).catch(() => undefined);
    if (!end || !Object.entries(end).some(([p, o]) => BigInt(o) > (this.positions.get(Number(p)) ?? 0n))) return;
    this.restarting = true;
    try {
      this.options.logger?.warn({ topic: this.options.topic }, 'writer log view stalled; restarting its consumer');
      const old = this.consumer;
      // Do not wait for a stalled consumer to leave; it is told to stop and dropped.
      void old?.stop().catch(() => undefined);
      await this.subscribe();
      this.progressAt = Date.now();
    } catch (err) {
      this.options.logger?.warn({ err }, 'restarting the writer log view failed; will retry');
    } finally {
      this.restarting = false;
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
    clearInterval(this.watchdog);
    await this.consumer?.stop();
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
