import { setTimeout as sleep } from 'node:timers/promises';
import { runWithRestarts } from '../util/retry.js';
import { topicNames } from '../log/topics.js';
import type { ConsumedBatch } from '../log/port.js';
import { resolveArchiverOptions, type ArchiverOptions, type ResolvedArchiverOptions } from './options.js';
import { PartitionArchive } from './partition.js';
import { KeyArchive } from './keys.js';
import { TopicArchive } from './topics.js';
import { SubjectArchive } from './schemas.js';
import { SnapshotCatalogArchive } from './catalog.js';
import { applyRetention, pruneBackup, type PartitionRetention, type PruneReport } from './retention.js';
import { trimLog, type PartitionTrim } from './trim.js';
import { recordHeads } from './events-catalog.js';

/** Lag of one partition behind the blob store. */
export interface PartitionLag {
  partition: number;
  /** Next offset the backup does not hold. */
  archivedNext: string;
  endOffset: string;
  /** Records in the log and not yet in the blob store. */
  records: string;
  /** Age of the oldest of them, in seconds: the RPO right now (0 when caught up). */
  seconds: number;
}

/**
 * The backup consumer (issue 14): archives every partition of
 * `<prefix>events` into the blob store as segments named by per-partition
 * manifests. See {@link PartitionArchive} for why the manifest, not the
 * group's commits, decides what is archived, and docs/backup.md for the
 * format.
 */
export class BackupArchiver {
  private readonly options: ResolvedArchiverOptions;
  private readonly topic: string;
  private readonly partitions = new Map<number, PartitionArchive>();
  private partitionCount = 0;
  private readonly keys: KeyArchive | undefined;
  private keysSyncedAt = Number.NEGATIVE_INFINITY;
  private readonly topics: TopicArchive;
  private readonly subjects: SubjectArchive | undefined;
  private readonly catalog: SnapshotCatalogArchive | undefined;
  private metadataSyncedAt = Number.NEGATIVE_INFINITY;
  private prunedAt: number | undefined;
  private catalogRecorded = '';

  constructor(options: ArchiverOptions) {
    this.options = resolveArchiverOptions(options);
    this.topic = topicNames(this.options.topicPrefix).events;
    this.keys = this.options.dataKeys ? new KeyArchive(this.options.blobs, this.options.dataKeys) : undefined;
    const { blobs, log, topicPrefix, registry, catalog } = this.options;
    this.topics = new TopicArchive(blobs, log, topicPrefix);
    this.subjects = registry ? new SubjectArchive(blobs, registry, topicPrefix) : undefined;
    this.catalog = catalog ? new SnapshotCatalogArchive(blobs, catalog) : undefined;
  }

  /**
   * Compares the topic configurations, the registry subjects and the
   * snapshot catalog with the backup's copies now, writing what changed
   * (docs/backup.md "What a restore needs besides events"). Runs at start,
   * every `metadataSyncMs` on the tick, and at stop.
   */
  async syncMetadata(): Promise<{ topics: number; subjects: number; snapshots: number }> {
    // Stamped first: a failing sync is retried one interval later, not on every tick.
    this.metadataSyncedAt = this.options.now();
    const topics = await this.topics.sync();
    const subjects = (await this.subjects?.sync()) ?? 0;
    const snapshots = (await this.catalog?.sync())?.snapshots ?? 0;
    this.options.metrics?.set('agentstate_backup_registry_subjects', subjects);
    this.options.metrics?.set('agentstate_backup_cataloged_snapshots', snapshots);
    return { topics, subjects, snapshots };
  }

  /**
   * The backup's retention now ({@link pruneBackup}): unreferenced segment
   * objects older than `orphanGraceMs` go; then, when configured, a
   * checkpoint per partition and retention by age ({@link applyRetention}:
   * only segments older than the oldest kept checkpoint).
   * Runs on the tick every `pruneIntervalMs` (the first one interval after start).
   */
  async prune(): Promise<PruneReport & { retention: PartitionRetention[]; trimmed: PartitionTrim[] }> {
    this.prunedAt = this.options.now();
    const { blobs, codec, keyring, checkpointIntervalMs, keepDays, keepMonthly, logger, metrics } = this.options;
    const trimmed = await this.trimLog();
    const r = await pruneBackup(blobs, { now: this.options.now(), graceMs: this.options.orphanGraceMs });
    metrics?.inc('agentstate_backup_pruned_segments_total', {}, r.deleted.length);
    if (r.deleted.length) logger?.info({ deleted: r.deleted.length, kept: r.kept.length }, 'backup retention deleted unreferenced segment objects');
    const retention = checkpointIntervalMs > 0 || keepDays > 0 ? await applyRetention(blobs, { codec, now: this.options.now(), checkpointIntervalMs, keepDays, keepMonthly, ...(keyring ? { keyring } : {}) }) : [];
    for (const p of retention) {
      if (p.written) metrics?.inc('agentstate_backup_checkpoints_total');
      metrics?.inc('agentstate_backup_retired_segments_total', {}, p.deletedSegments.length);
      if (p.refused) logger?.warn({ partition: p.partition, reason: p.refused }, 'backup retention deleted nothing in this partition');
      if (p.written || p.deletedSegments.length || p.deletedCheckpoints.length) {
        logger?.info({ partition: p.partition, checkpoint: p.written, floor: p.floor?.key, deletedSegments: p.deletedSegments.length, deletedCheckpoints: p.deletedCheckpoints.length }, 'backup retention');
      }
    }
    return { ...r, retention, trimmed };
  }

  /**
   * The events topic capped behind the backup ({@link trimLog}), when
   * `trimLogAfterMs` is set: a failure is logged and left to the next run.
   */
  private async trimLog(): Promise<PartitionTrim[]> {
    const { log, blobs, trimLogAfterMs, trimLogGroups, logger, metrics } = this.options;
    if (trimLogAfterMs === 0) return [];
    try {
      const trimmed = await trimLog({ log, blobs, topic: this.topic, keepMs: trimLogAfterMs, groups: trimLogGroups, now: this.options.now() });
      for (const t of trimmed) {
        metrics?.inc('agentstate_backup_log_trimmed_records_total', {}, Number(BigInt(t.to) - BigInt(t.from)));
        logger?.info(t, 'events below the new log start are in the backup only');
      }
      return trimmed;
    } catch (err) {
      logger?.warn({ err }, 'capping the events topic behind the backup failed; retrying next interval');
      return [];
    }
  }

  /** {@link syncMetadata}, a failure logged (retried on a later tick), never fatal to archiving. */
  private async trySyncMetadata(): Promise<void> {
    try {
      await this.syncMetadata();
    } catch (err) {
      this.options.logger?.warn({ err }, 'backup of topic configs, registry subjects or snapshot catalog failed; retrying later');
    }
  }

  /**
   * Compares the whole data-key store with the backup's copy now: new and
   * re-wrapped keys are written, shredded agents go on the shred list and
   * their wrapped keys leave the backup. Runs on the tick every `keysSyncMs`.
   */
  async syncKeys(): Promise<{ keys: number; shredded: number } | undefined> {
    if (!this.keys) return undefined;
    const r = await this.keys.sync();
    this.keysSyncedAt = this.options.now();
    this.options.metrics?.set('agentstate_backup_keys', r.keys);
    this.options.metrics?.set('agentstate_backup_shredded_agents', r.shredded);
    return r;
  }

  private archive(partition: number): PartitionArchive {
    let a = this.partitions.get(partition);
    if (!a) {
      const ctx = { options: this.options, topic: this.topic, partitions: 0, ...(this.keys ? { keys: this.keys } : {}) };
      Object.defineProperty(ctx, 'partitions', { get: () => this.partitionCount });
      a = new PartitionArchive(ctx, partition);
      this.partitions.set(partition, a);
    }
    return a;
  }

  /**
   * Archives until `signal` aborts, then closes every open segment (so a
   * SIGTERM leaves nothing only in memory) and returns. A failing consumer
   * (blob store down, ...) is restarted after `restartDelayMs` with the
   * in-memory state dropped: the manifests are re-read.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { log, group, logger } = this.options;
    // The first retention run is one interval after start.
    this.prunedAt = this.options.now();
    this.partitionCount = Object.keys(await log.endOffsets(this.topic)).length;
    await this.rewindGroup();
    await this.trySyncMetadata();
    const ticker = this.startTicker(signal);
    try {
      // A failed consumer restarts from the manifests, after runWithRestarts' pause (backoff, one warn line each).
      await runWithRestarts(
        async () => {
          const consumer = await log.consume({
            group,
            topics: [this.topic],
            handler: (batch: ConsumedBatch) => this.archive(batch.partition).accept(batch.records, batch.highWatermark),
            fromBeginning: true,
            signal,
            sessionTimeoutMs: this.options.sessionTimeoutMs,
            maxBatchRecords: this.options.maxBatchRecords,
          });
          try {
            await consumer.done;
          } catch (err) {
            if (!signal.aborted) await Promise.all([...this.partitions.values()].map((p) => p.reset()));
            throw err;
          }
        },
        { signal, restartDelayMs: this.options.restartDelayMs, what: 'backup consumer (restarting from the manifests)', logger, onRestart: () => this.options.metrics?.inc('agentstate_backup_restarts_total') },
      );
    } finally {
      ticker.stop();
      await ticker.done;
    }
    await this.flushAll();
    await this.syncKeys();
    await this.trySyncMetadata();
  }

  /** Closes every open segment now. */
  async flushAll(): Promise<void> {
    await Promise.all([...this.partitions.values()].map((p) => p.flush()));
    await this.recordCatalog();
  }

  /** The partitions' heads into the catalog across them ({@link recordHeads}), when one moved since the last write. */
  private async recordCatalog(): Promise<void> {
    const heads = [...this.partitions.values()].flatMap((p) => p.currentHead() ?? []);
    const seen = heads.map((h) => `${h.partition}:${h.version}`).join(',');
    if (seen === this.catalogRecorded) return;
    await recordHeads(this.options.blobs, heads, this.options.now());
    this.catalogRecorded = seen;
  }

  /**
   * Moves the group back to what the manifests hold, so a restart after a
   * crash re-reads the open segment's records through the consumer instead of
   * `read`. Only possible with no other member: with one, the gap fill in
   * PartitionArchive covers it, so a refusal is fine.
   */
  private async rewindGroup(): Promise<void> {
    const { log, group, logger } = this.options;
    const offsets: Record<number, string> = {};
    for (let p = 0; p < this.partitionCount; p++) {
      const a = this.archive(p);
      await a.loadedHead();
      offsets[p] = a.archivedNext().toString();
    }
    try {
      await log.resetGroup(group, this.topic, { to: 'offsets', offsets });
    } catch (err) {
      logger?.info({ err: (err as Error).message }, 'backup group not rewound to the manifests (another member is active); gaps are read back from the log');
    }
  }

  /** Lag and RPO per partition, from the end offsets and the manifests. */
  async lag(): Promise<PartitionLag[]> {
    const now = this.options.now();
    const ends = await this.options.log.endOffsets(this.topic);
    const out: PartitionLag[] = [];
    for (const [p, end] of Object.entries(ends)) {
      const a = this.archive(Number(p));
      const l = await a.lag(BigInt(end), now);
      out.push({ partition: Number(p), archivedNext: a.archivedNext().toString(), endOffset: end, records: l.records.toString(), seconds: l.seconds });
    }
    return out.sort((a, b) => a.partition - b.partition);
  }

  private startTicker(signal: AbortSignal): { stop(): void; done: Promise<void> } {
    const { tickMs, logger, metrics, now } = this.options;
    const stopper = new AbortController();
    const onAbort = (): void => stopper.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    let pruning: Promise<void> | undefined;
    const done = (async () => {
      while (!stopper.signal.aborted) {
        await sleep(tickMs, undefined, { signal: stopper.signal }).catch(() => undefined);
        if (stopper.signal.aborted) break;
        try {
          const committed = await this.options.log.committedOffsets(this.options.group, this.topic);
          for (let p = 0; p < this.partitionCount; p++) {
            const c = committed[p];
            await this.archive(p).catchUpCommitted(c === undefined ? undefined : BigInt(c), now());
          }
          await Promise.all([...this.partitions.values()].map((p) => p.flushIfAged(now())));
          await this.recordCatalog();
          if (this.keys && now() - this.keysSyncedAt >= this.options.keysSyncMs) await this.syncKeys();
          if (now() - this.metadataSyncedAt >= this.options.metadataSyncMs) await this.trySyncMetadata();
          for (const l of await this.lag()) {
            const labels = { partition: String(l.partition) };
            metrics?.set('agentstate_backup_lag_records', Number(l.records), labels);
            metrics?.set('agentstate_backup_rpo_seconds', l.seconds, labels);
          }
        } catch (err) {
          // The open segment stays in memory and is retried on the next tick.
          logger?.warn({ err }, 'backup tick failed');
        }
        // Apart: a failing archive tick must not stop the retention, nor the reverse. In the background: a
        // checkpoint folds every segment since the previous one, and aged segments must still close meanwhile.
        if (!pruning && this.options.pruneIntervalMs > 0 && now() - (this.prunedAt ?? now()) >= this.options.pruneIntervalMs) {
          pruning = this.prune()
            .then(() => undefined)
            .catch((err: unknown) => logger?.warn({ err }, 'backup retention failed; retrying next interval'))
            .finally(() => (pruning = undefined));
        }
      }
      // A retention run in flight finishes before the archiver returns (it is crash-safe either way).
      await pruning;
    })();
    return {
      stop: () => {
        signal.removeEventListener('abort', onAbort);
        stopper.abort();
      },
      done,
    };
  }
}
