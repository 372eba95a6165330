import { bindLog, checkLogStart } from '../integrity/log-binding.js';
import type { Logger } from 'pino';
import { checksum, type Projection } from '../domain/index.js';
import { ChecksumMismatchError } from '../domain/errors.js';
import { AgentStateError, NotFoundError } from '../errors.js';
import type { ConsumedBatch } from '../log/port.js';
import { topicNames, type TopicNames } from '../log/topics.js';
import type { StoredState } from '../store/port.js';
import { stateOfRow } from '../store/state-fields.js';
import { decodeState } from '../codec/state-body.js';
import { withChangesets, type ChangesetClaimCheck } from '../codec/changeset-blob.js';
import { foldBatch } from './fold-batch.js';
import { HeadCache, type Head } from './heads.js';
import { NO_METRICS, type Metrics } from '../telemetry/metrics.js';
import { resolveProjectorOptions, type ProjectorOptions, type ResolvedProjectorOptions } from './options.js';
import { retrying, runWithRestarts, sleep } from '../util/retry.js';
import { Sinks, type EncodedHead } from './sinks.js';
import { Snapshotter, type SnapshotInput } from '../snapshots/snapshotter.js';

/**
 * The projector: consumes `<prefix>events` in a consumer group and derives
 * current state, the event mirror, snapshots, the cache and the compacted state
 * topic (DESIGN.md The shape). Per batch it folds with the domain rules,
 * writes every sink (retrying while a server is down), and only then lets the
 * consumer commit the offset (Invariant 4). It resumes from the store's heads,
 * never refolding from scratch: each stored row carries the log position it
 * reflects, so redelivered records are recognised and skipped.
 */
export class Projector {
  readonly options: ResolvedProjectorOptions;
  readonly topics: TopicNames;
  readonly snapshotter: Snapshotter;
  private readonly sinks: Sinks;
  /** The options' codec, resolving claim-checked changesets from the projector's blob store. */
  private readonly codec: ChangesetClaimCheck;
  private readonly heads: HeadCache;
  private readonly metrics: Metrics;
  private readonly logger: Logger | undefined;

  constructor(options: ProjectorOptions) {
    this.options = resolveProjectorOptions(options);
    const o = this.options;
    this.topics = topicNames(o.topicPrefix);
    this.metrics = o.metrics ?? NO_METRICS;
    this.logger = o.logger;
    this.heads = new HeadCache(o.maxHeads);
    this.codec = withChangesets(o.codec, o.blobs);
    this.snapshotter = new Snapshotter(o.store, o.blobs, {
      ...(o.snapshots ? { policy: o.snapshots } : {}),
      metrics: this.metrics,
      ...(o.logger ? { logger: o.logger } : {}),
      ...(o.keyring ? { keyring: o.keyring } : {}),
    });
    this.sinks = new Sinks({
      log: o.log,
      store: o.store,
      blobs: o.blobs,
      cache: o.cache,
      topics: this.topics,
      body: o.body,
      claimCheckBytes: o.claimCheckBytes,
      cacheMaxBytes: o.cacheMaxBytes,
      cacheTtlMs: o.cacheTtlMs,
      publishState: o.publishState,
    });
  }

  /**
   * Runs until `signal` aborts: a consumer that fails (a sink down longer than
   * the retry window, a rebalance error, Kafka unreachable) is restarted after
   * a pause, with the in-memory heads dropped and reloaded from the store.
   * On abort the batch in hand finishes and commits (graceful SIGTERM).
   */
  async run(signal: AbortSignal): Promise<void> {
    if (!(await this.checkLog(signal))) return;
    const sweeper = this.startSweeper(signal);
    try {
      await runWithRestarts(
        async () => {
          this.heads.clear();
          const consumer = await this.options.log.consume({
            group: this.options.group,
            topics: [this.topics.events],
            handler: (batch) => this.handle(batch, signal),
            signal,
            fromBeginning: true,
            maxBatchRecords: this.options.maxBatchRecords,
            partitionsConcurrently: this.options.partitionsConcurrently,
            sessionTimeoutMs: this.options.sessionTimeoutMs,
          });
          await consumer.done;
        },
        { signal, restartDelayMs: this.options.restartDelayMs, what: 'projector consumer', logger: this.logger, onRestart: () => this.metrics.inc('agentstate_projector_restarts_total') },
      );
    } finally {
      clearInterval(sweeper);
    }
  }

  /**
   * Before anything is written, the store must project this log, not another
   * or an emptied one (issue 12 §3): a mismatch is thrown (AS_LOG_MISMATCH,
   * or rebuilt with `rebuild`); a server that does not answer is retried like
   * a failed consumer. False when aborted first.
   */
  private async checkLog(signal: AbortSignal): Promise<boolean> {
    const o = this.options;
    while (!signal.aborted) {
      try {
        await bindLog(o.log, o.store, this.topics.events, { rebuild: o.rebuild, group: o.group, ...(o.cache ? { cache: o.cache } : {}) });
        await checkLogStart(o.log, this.topics.events, o.group);
        return true;
      } catch (err) {
        if (!(err instanceof AgentStateError) || !err.retryable) throw err;
        this.logger?.warn({ err }, 'checking the store against the log failed; retrying');
        await sleep(o.restartDelayMs, signal);
      }
    }
    return false;
  }

  /**
   * Runs until the group has committed every partition up to the end offsets
   * the events topic had when this was called (so it terminates under load),
   * then stops gracefully. For batch rebuilds and `--until-caught-up`.
   *
   * With `after`, the projector runs while `after` is pending (records still
   * being appended, e.g. by a restore) and the end offsets are taken once it
   * settles; a rejection of `after` stops the projector and is thrown.
   */
  async runUntilCaughtUp(signal?: AbortSignal, pollMs = 250, after?: Promise<unknown>): Promise<void> {
    const { log, group } = this.options;
    // Checked here first: a mismatch must fail this call, not leave it waiting for commits that never come.
    if (!(await this.checkLog(signal ?? new AbortController().signal))) return;
    let target = after ? undefined : await log.endOffsets(this.topics.events);
    const start = await log.startOffsets(this.topics.events);
    const behind = async (): Promise<boolean> => {
      if (!target) return true;
      const committed = await log.committedOffsets(group, this.topics.events).catch(() => ({}) as Record<number, string>);
      return Object.entries(target).some(([p, end]) => BigInt(committed[Number(p)] ?? start[Number(p)] ?? '0') < BigInt(end));
    };
    // Already there (a re-run): no consumer, so no group join to wait on.
    if (!(await behind())) return;
    const ac = new AbortController();
    const onAbort = (): void => ac.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const running = this.run(ac.signal);
    // A projector that stops by itself (a refusal, an error past its retries) ends the wait; its error is thrown below.
    let ended = false;
    void running.then(
      () => (ended = true),
      () => (ended = true),
    );
    try {
      if (after) {
        await Promise.race([after, running]);
        target = await log.endOffsets(this.topics.events);
      }
      while (!ac.signal.aborted && !ended) {
        if (!(await behind())) break;
        await sleep(pollMs, ac.signal);
      }
    } finally {
      ac.abort();
      signal?.removeEventListener('abort', onAbort);
      await running;
    }
  }

  /** Lag per partition: end offset minus committed offset. */
  async lag(): Promise<Record<number, bigint>> {
    const { log, group } = this.options;
    const [end, start, committed] = await Promise.all([log.endOffsets(this.topics.events), log.startOffsets(this.topics.events), log.committedOffsets(group, this.topics.events)]);
    const out: Record<number, bigint> = {};
    for (const [p, e] of Object.entries(end)) out[Number(p)] = BigInt(e) - BigInt(committed[Number(p)] ?? start[Number(p)] ?? '0');
    return out;
  }

  private async handle(batch: ConsumedBatch, signal: AbortSignal): Promise<void> {
    const first = batch.records[0];
    const last = batch.records.at(-1);
    if (!first || !last) return;
    const started = performance.now();
    const p = batch.partition;
    this.heads.begin(p, first.offset);
    const retry = <T>(what: string, fn: () => Promise<T>): Promise<T> => retrying(fn, { windowMs: this.options.retryWindowMs, signal, what, ...(this.logger ? { logger: this.logger } : {}) });
    // Wall time per stage (the sinks of a stage overlap, so their times add up to more than the batch's).
    const timed = async <T>(stage: string, work: Promise<T>): Promise<T> => {
      const t0 = performance.now();
      try {
        return await work;
      } finally {
        this.metrics.observe('agentstate_projector_stage_seconds', (performance.now() - t0) / 1000, { stage });
      }
    };

    const ids = [...new Set(batch.records.filter((r) => r.value !== null).map((r) => r.key))];
    const missing = ids.filter((id) => this.heads.get(p, id) === undefined);
    const loaded =
      missing.length > 0
        ? await timed(
            'heads',
            retry('load heads from the store', () => this.loadHeads(missing)),
          )
        : new Map<string, Head>();
    const plan = await timed(
      'fold',
      // Pure but for decoding, which fetches claim-checked changesets: a blob store that does not answer is retried like a sink.
      retry('fold (claim-checked changesets from the blob store)', () => foldBatch(batch.records, (id) => this.heads.get(p, id) ?? loaded.get(id), this.codec, this.snapshotter)),
    );

    // Sinks in stages that keep every crash point safe. The consumer commits
    // only after the last stage holds (Invariant 4); within a stage the writes
    // are independent and idempotent, so they run together.
    //
    // 1. DLQ, state encoding (and claim-check blobs), the policy snapshots due
    //    in the batch, and the event mirror. All of them come before the cache
    //    and the store:
    //    - the mirror before the cache, so a version a reader got from the
    //      cache is already in the history (getEventHistory, projectState) of
    //      the same manager: read-your-writes across its methods;
    //    - snapshots before the store: once the store holds a batch, a
    //      redelivery skips its records as already stored, so a snapshot that
    //      failed after the store write (S3 down longer than the retry window)
    //      would never be taken (issue 12 §5). Before the store write, a
    //      failure makes the whole batch run again, and a retaken snapshot is
    //      the same record and the same content-addressed object;
    //    - rejects: re-decided identically on a redelivery (Invariant 3), sent
    //      again (the DLQ is at least once).
    // 2. The cache, with a version guard, before the store, so it never holds
    //    less than the store: a reader served by the cache cannot see an older
    //    version than a reader served by the store (docs/projector.md, Read
    //    consistency). What it gets ahead of the store is the fold of records
    //    already in the log: a crash here leaves it one batch ahead until the
    //    redelivered batch writes the same heads (Invariant 2: same bytes).
    // 3. The state rows and the compacted state topic. A crash between the two
    //    is repaired by the redelivery: the records are refolded if the rows
    //    did not hold, else their heads re-derived (below).
    //
    // A redelivered batch whose store write held last time, but not all of its
    // derived outputs (the attempt failed or the process died after the store
    // write): its records are skipped as already stored, so the heads the store
    // holds for them are written to the cache and the state topic again
    // (idempotent; the cache guard keeps any newer entry).
    const rederive = new Map([...loaded].filter(([id, h]) => !plan.heads.has(id) && h.position.partition === p && BigInt(h.position.offset) >= BigInt(first.offset)));
    const [encoded, rederived] = await settleAll([
      timed(
        'encode',
        retry('state encoding / claim check', () => this.sinks.encode(plan.heads)),
      ),
      rederive.size === 0 ? Promise.resolve(new Map<string, EncodedHead>()) : retry('state encoding', () => this.sinks.encode(rederive)),
      timed(
        'dlq',
        retry('DLQ append', () => this.sinks.dlq(plan)),
      ),
      timed('snapshots', this.takeSnapshots(plan.snapshots, retry)),
      timed(
        'mirror',
        retry('event mirror write', () => this.sinks.storeEvents(plan)),
      ),
    ] as const);
    const derived = rederived.size === 0 ? encoded : new Map([...rederived, ...encoded]);
    await timed(
      'cache',
      retry('cache write', () => this.sinks.cache(derived)),
    );
    await settleAll([
      timed(
        'states',
        retry('state rows write', () => this.sinks.storeStates(plan, encoded)),
      ),
      timed(
        'state-topic',
        retry('state topic append', () => this.sinks.stateTopic(derived)),
      ),
    ]);

    this.heads.commit(p, new Map([...loaded, ...plan.heads]), BigInt(last.offset) + 1n);
    const m = this.metrics;
    const partition = String(p);
    m.inc('agentstate_projector_events_total', { result: 'applied' }, plan.accepted.length);
    m.inc('agentstate_projector_events_total', { result: 'skipped' }, plan.skipped);
    for (const r of plan.rejected) m.inc('agentstate_projector_rejects_total', { reason: r.reason });
    m.set('agentstate_projector_lag', Number(BigInt(batch.highWatermark) - BigInt(last.offset) - 1n), { partition });
    m.observe('agentstate_projector_batch_seconds', (performance.now() - started) / 1000);
    if (plan.rejected.length > 0) {
      this.logger?.warn({ partition: p, rejects: plan.rejected.map((r) => ({ offset: r.record.offset, key: r.record.key, reason: r.reason })) }, 'events rejected to the DLQ');
    }
  }

  /** Snapshots of different agents in parallel; one agent's in version order (an incremental builds on the previous). */
  private async takeSnapshots(inputs: SnapshotInput[], retry: <T>(what: string, fn: () => Promise<T>) => Promise<T>): Promise<void> {
    if (inputs.length === 0) return;
    const byAgent = new Map<string, SnapshotInput[]>();
    for (const s of inputs) byAgent.set(s.instanceId, [...(byAgent.get(s.instanceId) ?? []), s]);
    const queues = [...byAgent.values()];
    const worker = async (): Promise<void> => {
      for (let q = queues.shift(); q; q = queues.shift()) {
        for (const s of q) await retry(`snapshot of ${s.instanceId}@${s.version}`, () => this.snapshotter.take(s));
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, queues.length) }, worker));
  }

  /** Heads from the store: the projection each stored row holds, verified against its checksum (Invariant 6). */
  private async loadHeads(ids: string[]): Promise<Map<string, Head>> {
    const rows = await this.options.store.getStates(ids);
    const out = new Map<string, Head>();
    for (const [id, row] of rows) out.set(id, await this.headFromRow(row));
    return out;
  }

  private async headFromRow(row: StoredState): Promise<Head> {
    let bytes = row.body;
    if (bytes === null) {
      if (row.blobKey === null) throw new NotFoundError(`state body of ${row.instanceId}`);
      const got = await this.options.blobs.get(row.blobKey);
      if (!got) throw new NotFoundError(`claim-checked state ${row.blobKey}`);
      bytes = got;
    }
    const state = stateOfRow(row, await decodeState(row.encoding, bytes));
    const sum = checksum(state);
    if (sum !== row.checksum) throw new ChecksumMismatchError(`stored state of ${row.instanceId}`, row.checksum, sum);
    const projection: Projection = { version: row.version, epoch: row.epoch, state, checksum: row.checksum };
    return {
      projection,
      position: row.position,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
      lastEventId: row.lastEventId,
      lastEventType: row.lastEventType,
      bytesSinceSnapshot: 0,
    };
  }

  private startSweeper(signal: AbortSignal): ReturnType<typeof setInterval> {
    const every = this.options.sweepIntervalMs;
    const timer = setInterval(
      () => {
        if (signal.aborted) return;
        this.snapshotter.sweep().then(
          (n) => n > 0 && this.logger?.info({ deleted: n }, 'expired snapshots deleted'),
          (err: unknown) => this.logger?.warn({ err }, 'snapshot retention sweep failed'),
        );
      },
      every === 0 ? 2 ** 31 - 1 : every,
    );
    timer.unref();
    return timer;
  }
}

/**
 * Awaits every task (none is left running when this returns, so a failed
 * batch never overlaps its own retry) and throws the first failure.
 */
async function settleAll<T extends readonly unknown[]>(tasks: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
