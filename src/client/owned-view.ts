import type { Logger } from 'pino';
import { decide, readEventRecord, step, type Projection, type StateEvent } from '../domain/index.js';
import { ClosedError } from '../errors.js';
import type { AppendResult, EventLog, StoredRecord } from '../log/port.js';
import type { EventCodec } from '../codec/event-codec.js';
import { ClaimFeed } from './claim-feed.js';
import { coalesced } from './coalesce.js';
import { baseHeads } from './head-source.js';
import { HEADER, type Outcome, type TailBootstrap, type TailStats } from './tail.js';
import type { PendingDecision, WriterView } from './view.js';

export interface OwnedViewOptions {
  log: EventLog;
  codec: EventCodec;
  topic: string;
  claimsTopic: string;
  /** Names this client in its claim announcements. */
  nodeId: string;
  bootstrap?: TailBootstrap;
  logger?: Logger;
  /** Told when a claim of another writer with a higher epoch is found in the log. */
  onFenced: (instanceId: string, epoch: number) => void;
  /** How often an owner looks at the claim feed while idle. @default 1000 */
  watchMs?: number;
}

interface Entry {
  partition: number;
  head: Projection | undefined;
  /** Every record of this agent below this offset is reflected in `head`. */
  at: bigint;
  /** The epoch this client owns the agent at; 0 while it does not. */
  epoch: number;
  /** A write's outcome is unknown (failed append, timeout): the next decision reads the log. */
  uncertain: boolean;
  fenced: boolean;
  /** Decisions and folds of one agent run one after another. */
  lock: Promise<unknown>;
}

interface Own {
  expected: Projection;
  /** Set once a fold has met the record. */
  outcome?: Outcome;
}

/**
 * The scoped view (docs/writer.md "Scoped writers"): heads only for the
 * agents this client creates, acquires or owns. A head is made exact by
 * reading the agent's own partition from the projector's outputs; a write is
 * decided without reading the events topic when the claim feed, read after
 * the write's acknowledgement, shows no claim above the owner's epoch (no
 * claim can then precede it in the log), and by reading the agent's partition
 * up to the write's own record otherwise (claims, creates, contested agents,
 * outcomes left unknown).
 */
export class OwnedView implements WriterView {
  private readonly entries = new Map<string, Entry>();
  /** This client's records appended and not yet decided, by eventId: a fold that meets one decides it from its headers. */
  private readonly own = new Map<string, Own>();
  private readonly feed: ClaimFeed;
  private readonly counters = { bootstrappedHeads: 0, foldedRecords: 0, bytesRead: 0 };
  private readonly watchdog: NodeJS.Timeout;
  private stopped = false;
  /** The events topic's end offsets, one request for all callers of a tick. */
  private readonly endOffsets = coalesced(() => this.o.log.endOffsets(this.o.topic));

  constructor(private readonly o: OwnedViewOptions) {
    this.feed = new ClaimFeed(o.log, o.claimsTopic);
    this.watchdog = setInterval(() => void this.watch().catch((err: unknown) => o.logger?.warn({ err }, 'claim feed watch failed; will retry')), o.watchMs ?? 1000);
    this.watchdog.unref();
  }

  stats(): TailStats {
    return { ...this.counters, bytesRead: this.counters.bytesRead + this.feed.bytesRead, startOffsets: {}, trackedAgents: this.entries.size };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdog);
    await Promise.allSettled([...this.entries.values()].map((e) => e.lock));
  }

  head(instanceId: string): Projection | undefined {
    return this.entries.get(instanceId)?.head;
  }

  async ready(instanceId: string): Promise<void> {
    if (this.stopped) throw new ClosedError('the writer client');
    if (!this.entries.has(instanceId)) await this.load(instanceId);
    await this.foldToEnd(instanceId, this.entries.get(instanceId)!);
  }

  /** An uncertain agent's head is read through the log's end; it stays uncertain until its next decision reads the log through its own record. */
  async settle(instanceId: string): Promise<void> {
    const e = this.entries.get(instanceId);
    if (!e?.uncertain) return;
    await this.foldToEnd(instanceId, e);
  }

  /** Folds the agent's partition up to the log's current end, holding its lock. */
  private foldToEnd(instanceId: string, e: Entry): Promise<void> {
    return this.locked(e, async () => {
      const end = await this.endOffsets();
      await this.fold(instanceId, e, BigInt(end[e.partition] ?? '0'));
    });
  }

  claiming(instanceId: string, epoch: number): Promise<void> {
    return this.feed.announce(instanceId, epoch, this.o.nodeId);
  }

  released(instanceId: string): void {
    this.entries.delete(instanceId);
    this.feed.untrack(instanceId);
  }

  expect(event: StateEvent, expected: Projection): PendingDecision {
    const id = event.instanceId;
    const own: Own = { expected };
    this.own.set(event.eventId, own);
    return {
      decided: async (appended: AppendResult) => {
        // Taken on the acknowledgement: a claim-feed read started after it sees every claim before our record.
        const acked = this.feed.ticket();
        const e = this.entries.get(id);
        try {
          if (!e) throw new ClosedError(`the writer's view of agent ${id}`);
          return await this.locked(e, async () => {
            try {
              return await this.decideOwn(id, e, event, own, BigInt(appended.offset), acked);
            } catch (err) {
              // The record is in the log and its decision failed (e.g. the claim feed was unreachable):
              // its outcome is unknown, so the next write of this agent is decided by reading the log
              // through its own record. Without this, the next write was built on the head before this
              // record, took its version, and was acknowledged by the fast path while the log rejected it
              // as a duplicate (broker-kill lost acknowledged writes that way).
              e.uncertain = true;
              throw err;
            }
          });
        } finally {
          this.own.delete(event.eventId);
        }
      },
      abandon: () => {
        this.own.delete(event.eventId);
        const e = this.entries.get(id);
        if (e) e.uncertain = true;
      },
    };
  }

  private async decideOwn(id: string, e: Entry, event: StateEvent, own: Own, offset: bigint, acked: number): Promise<Outcome> {
    const claim = event.eventType === 'ownership_acquired' || e.epoch === 0;
    if (!claim && !e.uncertain && !e.fenced && e.at <= offset) {
      // The feed is read after the broker acknowledged our record: a claim
      // before it in the log was announced (and acknowledged) before that.
      await this.feed.sync(acked);
      if (this.feed.highest(id) <= e.epoch) {
        const decision = decide(e.head, event);
        if (decision.accept) {
          e.head = own.expected;
          e.at = offset + 1n;
          return { accept: true, projection: own.expected };
        }
        return decision;
      }
    }
    // A fold (a claim's refresh, the watch) may already have met the record.
    await this.fold(id, e, offset + 1n);
    e.uncertain = false;
    const outcome = own.outcome;
    if (!outcome) throw new Error(`agent ${id}: its own record at offset ${offset} was not found in the log`);
    if (outcome.accept && (event.eventType === 'ownership_acquired' || event.eventType === 'instance_created')) {
      e.epoch = event.writerEpoch;
      e.fenced = false;
    }
    return outcome;
  }

  /** Base heads come in batches: acquires made together read each state partition once. */
  private loading: { ids: Set<string>; done: Promise<void> } | undefined;

  private load(instanceId: string): Promise<void> {
    if (!this.loading) {
      const ids = new Set<string>();
      const done = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        this.loading = undefined;
        const list = [...ids].filter((id) => !this.entries.has(id));
        // Watch the claim feed before reading heads (ClaimFeed.track).
        for (const id of list) await this.feed.track(id);
        const { bases, bytesRead } = await baseHeads(this.o.log, this.o.topic, list, this.o.bootstrap, this.o.logger);
        this.counters.bytesRead += bytesRead;
        const byPartition = new Map<number, Map<string, Entry>>();
        // The entries are visible at once; whoever needs one waits for the batch's fold (its lock).
        let folded!: () => void;
        const batch = new Promise<void>((resolve) => (folded = resolve));
        for (const id of list) {
          const b = bases.get(id)!;
          if (b.fromStateTopic) this.counters.bootstrappedHeads++;
          const partition = await this.o.log.partitionFor(this.o.topic, id);
          const e: Entry = { partition, head: b.head, at: b.at, epoch: 0, uncertain: false, fenced: false, lock: batch };
          this.entries.set(id, e);
          byPartition.set(partition, (byPartition.get(partition) ?? new Map<string, Entry>()).set(id, e));
        }
        // One read per partition for the whole batch, instead of one per agent.
        try {
          const end = await this.endOffsets();
          await Promise.all([...byPartition].map(([p, agents]) => this.foldPartition(p, agents, BigInt(end[p] ?? '0'))));
        } catch (err) {
          for (const id of list) this.entries.delete(id);
          throw err;
        } finally {
          folded();
        }
      });
      this.loading = { ids, done };
    }
    this.loading.ids.add(instanceId);
    return this.loading.done;
  }

  /**
   * Folds the agent's partition from `e.at` up to `until` with the rules
   * every replay applies, reading only that partition and applying only this
   * agent's records. This client's own records are decided from their headers.
   */
  /** Folds waiting to start, per partition: the decisions of one tick share one read. */
  private readonly folds = new Map<number, { agents: Map<string, Entry>; until: bigint; done: Promise<void> }>();

  /** Folds the agent's partition up to `until`, in one read with the other agents' folds of the same tick. Call holding the agent's lock. */
  private fold(id: string, e: Entry, until: bigint): Promise<void> {
    if (until <= e.at) return Promise.resolve();
    let batch = this.folds.get(e.partition);
    if (!batch) {
      const b = { agents: new Map<string, Entry>(), until, done: Promise.resolve() };
      b.done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.folds.delete(e.partition);
        return this.foldPartition(e.partition, b.agents, b.until);
      });
      this.folds.set(e.partition, b);
      batch = b;
    }
    batch.agents.set(id, e);
    if (until > batch.until) batch.until = until;
    return batch.done;
  }

  /**
   * Folds one partition from the lowest `at` of the given agents up to
   * `until` with the rules every replay applies, reading only that partition
   * and applying only these agents' records (each from its own `at`). This
   * client's own records are decided from their headers.
   */
  private async foldPartition(partition: number, agents: Map<string, Entry>, until: bigint): Promise<void> {
    let from = until;
    for (const e of agents.values()) if (e.at < from) from = e.at;
    if (from >= until) return;
    const records = await this.o.log.read(this.o.topic, partition, from.toString(), until.toString());
    for (const record of records) {
      this.counters.bytesRead += (record.value?.length ?? 0) + record.key.length;
      const e = agents.get(record.key);
      if (!e || BigInt(record.offset) < e.at) continue;
      this.counters.foldedRecords++;
      await this.applyRecord(record.key, e, record);
    }
    for (const e of agents.values()) if (e.at < until) e.at = until;
  }

  private async applyRecord(id: string, e: Entry, record: StoredRecord): Promise<void> {
    const own = this.own.get(record.headers[HEADER.eventId] ?? '');
    if (own) {
      const decision = decide(e.head, {
        version: Number(record.headers[HEADER.version]) as StateEvent['version'],
        writerEpoch: Number(record.headers[HEADER.epoch]) as StateEvent['writerEpoch'],
        eventType: record.headers[HEADER.type] as StateEvent['eventType'],
      });
      if (decision.accept) e.head = own.expected;
      own.outcome = decision.accept ? { accept: true, projection: own.expected } : decision;
      return;
    }
    const reading = await readEventRecord(record, this.o.codec);
    if (reading.kind !== 'event') return;
    const result = step(e.head, reading.event);
    if (!result.accept) return;
    e.head = result.projection;
    const ev = reading.event;
    if (ev.eventType === 'ownership_acquired' && e.epoch > 0 && ev.writerEpoch > e.epoch) {
      e.fenced = true;
      this.o.onFenced(id, ev.writerEpoch);
    }
  }

  private locked<T>(e: Entry, fn: () => Promise<T>): Promise<T> {
    const run = e.lock.then(fn);
    e.lock = run.catch(() => undefined);
    return run;
  }

  /** An idle owner learns of a claim on its agent: announced in the feed, then looked for in the log. */
  private async watch(): Promise<void> {
    const owned = [...this.entries].filter(([, e]) => e.epoch > 0 && !e.fenced);
    if (owned.length === 0 || this.stopped) return;
    await this.feed.sync();
    const contested = owned.filter(([id, e]) => this.feed.highest(id) > e.epoch);
    if (contested.length === 0) return;
    const end = await this.endOffsets();
    await Promise.all(contested.map(([id, e]) => this.locked(e, () => this.fold(id, e, BigInt(end[e.partition] ?? '0')))));
  }
}
