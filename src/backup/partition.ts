import { AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError } from '../errors.js';
import { readEventRecord } from '../domain/record.js';
import type { EventCodec } from '../codec/event-codec.js';
import type { StateEvent } from '../domain/event.js';
import { BACKUP_CHANGESETS_PREFIX, backupReader, copyChangesets, prefixedBlobs, sealForBackup } from './changesets.js';
import type { StoredRecord } from '../log/port.js';
import { appendManifest, readHead, segmentKey, type AgentRange, type ManifestHead, type SegmentEntry } from './manifest.js';
import type { ResolvedArchiverOptions } from './options.js';
import type { KeyArchive } from './keys.js';
import { encryptRecords, readableRecords, sameRecords } from './crypt.js';
import { openSegment, sealSegment, sha256Hex, type SegmentRecord } from './segment.js';

/** What a partition archive needs from its archiver. */
export interface PartitionContext {
  options: ResolvedArchiverOptions;
  topic: string;
  partitions: number;
  /** The data keys' archive (shared by the partitions), when the backup holds keys. */
  keys?: KeyArchive;
}

/** Bytes a record adds to a segment body (close enough for the size limit). */
function recordBytes(r: SegmentRecord): number {
  let n = 28 + Buffer.byteLength(r.key) + (r.value?.length ?? 0);
  for (const [k, v] of Object.entries(r.headers)) n += 8 + Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

/** What a flush did. */
export type FlushOutcome = 'empty' | 'written' | 'lost_race';

/**
 * One partition of the events topic being archived: the manifest head, and
 * the open segment (records received but not yet durable in the blob store).
 *
 * The manifest, not the consumer group, says what is archived: the log's
 * consumer commits a batch as soon as the handler returns, and a segment
 * stays open across many batches (it closes on size or age), so a crash
 * loses committed-but-unarchived records from the group's point of view.
 * Every batch is therefore checked against the manifest's next offset:
 * records below it are dropped (already archived), and a gap above it is read
 * back from the log with `read` (the records a crash left in an open
 * segment). So no offset is missed or archived twice whatever the group
 * committed (DESIGN.md Invariant 4; docs/backup.md "Offsets").
 *
 * All work on one partition runs through one queue, so a batch, an age
 * flush and the final flush never interleave.
 */
export class PartitionArchive {
  private head: ManifestHead | undefined;
  /** Where the log started when the manifest was empty. */
  private logStart = 0n;
  private open: SegmentRecord[] = [];
  private openBytes = 0;
  private openedAt = 0;
  private queue: Promise<unknown> = Promise.resolve();
  /** End offset last seen (batch high watermark or endOffsets). */
  highWatermark: bigint | undefined;
  /** Since when the group's commit has been past the manifest with nothing open here (see catchUpCommitted). */
  private behindSince: number | undefined;
  /** Timestamp of the oldest record not yet archived, by offset (cached for the RPO gauge). */
  private pendingTs: { offset: bigint; timestamp: number } | undefined;

  constructor(
    private readonly ctx: PartitionContext,
    readonly partition: number,
  ) {}

  /** Runs `fn` after everything queued before it. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Forgets everything in memory (after a consumer failure: the manifest is re-read). */
  reset(): Promise<void> {
    return this.serial(async () => {
      this.head = undefined;
      this.open = [];
      this.openBytes = 0;
    });
  }

  /** The manifest head (loaded on first use). */
  async loadedHead(): Promise<ManifestHead> {
    if (!this.head) {
      this.head = await readHead(this.ctx.options.blobs, this.partition);
      if (this.head.nextOffset === null) {
        const starts = await this.ctx.options.log.startOffsets(this.ctx.topic);
        this.logStart = BigInt(starts[this.partition] ?? '0');
      }
    }
    return this.head;
  }

  /** The manifest head as this archiver last read or wrote it (undefined before it is loaded). */
  currentHead(): ManifestHead | undefined {
    return this.head;
  }

  /** Next offset the blob store does not hold yet. */
  archivedNext(): bigint {
    if (!this.head) throw new InvalidInputError('backup partition', 'manifest head not loaded');
    return this.head.nextOffset === null ? this.logStart : BigInt(this.head.nextOffset);
  }

  private expectedNext(): bigint {
    const last = this.open.at(-1);
    return last ? BigInt(last.offset) + 1n : this.archivedNext();
  }

  /** Takes a consumed batch: drops what is archived, fills a gap from the log, closes full segments. */
  accept(records: readonly StoredRecord[], highWatermark: string): Promise<void> {
    return this.serial(async () => {
      this.highWatermark = BigInt(highWatermark);
      await this.loadedHead();
      const next = this.expectedNext();
      const fresh = records.filter((r) => BigInt(r.offset) >= next);
      const first = fresh[0];
      if (!first) return;
      if (BigInt(first.offset) > next) await this.fill(next, BigInt(first.offset));
      for (const r of fresh) await this.add(r);
    });
  }

  /** Reads [from, until) back from the log: records the group committed but no segment holds. */
  private async fill(from: bigint, until: bigint): Promise<void> {
    const { log, maxBatchRecords } = this.ctx.options;
    for (let at = from; at < until;) {
      const stop = at + BigInt(maxBatchRecords) < until ? at + BigInt(maxBatchRecords) : until;
      const records = await log.read(this.ctx.topic, this.partition, at.toString(), stop.toString());
      const first = records[0];
      if (!first || BigInt(first.offset) !== at) {
        // Retention removed them before they were archived: refuse rather than archive around a hole.
        throw new NotFoundError(`offsets ${at}-${until - 1n} of ${this.ctx.topic} partition ${this.partition} (gone from the log, and not in the backup):`);
      }
      for (const r of records) await this.add(r);
      at = BigInt(records.at(-1)!.offset) + 1n;
    }
  }

  private async add(r: StoredRecord | SegmentRecord): Promise<void> {
    // Checked per record, not per batch: a flush in the middle of a batch can
    // lose a manifest race and move the head past records still to be added.
    const expected = this.expectedNext();
    const offset = BigInt(r.offset);
    if (offset < expected) return;
    if (offset > expected) throw new ConflictError(`${this.ctx.topic} partition ${this.partition}: record ${offset} does not follow ${expected - 1n}; restarting from the manifest`, { retryable: true });
    const rec: SegmentRecord = { offset: r.offset, timestamp: r.timestamp, key: r.key, headers: r.headers, value: r.value };
    if (this.open.length === 0) this.openedAt = this.ctx.options.now();
    this.open.push(rec);
    this.openBytes += recordBytes(rec);
    if (this.openBytes >= this.ctx.options.segmentMaxBytes) await this.flushNow();
  }

  /**
   * Reads back from the log what the group has committed past and no segment
   * holds: the consumer will never deliver those records again (a process was
   * killed with a segment open), and with no new writes no batch would arrive
   * to trigger {@link accept}'s gap fill. Several backup processes may do
   * this for one partition; the manifest's conditional write keeps one copy.
   */
  catchUpCommitted(committed: bigint | undefined, now: number): Promise<void> {
    return this.serial(async () => {
      await this.loadedHead();
      if (committed === undefined || committed <= this.expectedNext()) {
        this.behindSince = undefined;
        return;
      }
      if (this.open.length === 0) {
        // Another live process may own this partition and hold those records in
        // its open segment: give it two segment ages to close it, then re-read
        // the head (ours may be stale) before doing the work twice.
        this.behindSince ??= now;
        if (now - this.behindSince < 2 * this.ctx.options.segmentMaxAgeMs) return;
        this.head = await readHead(this.ctx.options.blobs, this.partition);
        if (committed <= this.expectedNext()) {
          this.behindSince = undefined;
          return;
        }
      }
      this.behindSince = undefined;
      await this.fill(this.expectedNext(), committed);
    });
  }

  /** Closes the open segment when it is older than the age limit. */
  flushIfAged(now: number): Promise<FlushOutcome> {
    return this.serial(async () => (this.open.length > 0 && now - this.openedAt >= this.ctx.options.segmentMaxAgeMs ? this.flushNow() : 'empty'));
  }

  /** Closes the open segment now (stop, SIGTERM). */
  flush(): Promise<FlushOutcome> {
    return this.serial(() => this.flushNow());
  }

  /**
   * Segment first, manifest entry second. A crash between the two leaves a
   * segment no manifest names; the range is re-archived from the manifest's
   * next offset, to the same key when it closes at the same offset (the
   * existing object is then checked and reused), else the first object stays
   * unreferenced (verify lists it as such; never read by a restore).
   */
  private async flushNow(): Promise<FlushOutcome> {
    const records = this.open;
    const first = records[0];
    const last = records.at(-1);
    if (!first || !last || !this.head) return 'empty';
    const { blobs, compression, metrics, logger, now } = this.ctx.options;
    const started = performance.now();
    const keyring = this.ctx.options.keyring;
    // Each value decoded once for the changeset copy and the summary (the archiver's largest CPU cost per record).
    const codec = decodingOnce(this.ctx.options.codec);
    // The schemas first: a segment in the backup never uses a schema id the backup cannot resolve.
    await this.ctx.options.schemas?.ensure(records.map((r) => r.value));
    // And the claim-checked changesets its events name, copied into the backup (docs/backup.md, Large changesets).
    const changesets = await copyChangesets(records, codec, this.ctx.options.changesets, prefixedBlobs(blobs, BACKUP_CHANGESETS_PREFIX), sealForBackup(keyring));
    if (changesets.missing > 0)
      logger?.warn({ partition: this.partition, missing: changesets.missing }, 'claim-checked changesets named by the log are missing from the blob store; readers report those events as changeset_missing');
    const encoded = keyring ? await encryptRecords(this.ctx.topic, this.partition, records, keyring) : records;
    // Then the data keys the values use (wrapped): a segment never depends on a key the backup lacks.
    await this.ctx.keys?.ensure(encoded.map((r) => [r.key, r.encoding === 1 && r.value && keyring ? keyring.keyIdOf(r.value) : undefined] as const));
    const sealed = await sealSegment(this.ctx.topic, this.partition, encoded, compression);
    const key = segmentKey(this.partition, first.offset, last.offset);
    let stored = { bytes: sealed.bytes.length, sha256: sealed.sha256, bodySha256: sealed.bodySha256 };
    try {
      await blobs.put(key, sealed.bytes, { ifNoneMatch: true, contentType: 'application/octet-stream' });
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
      stored = await this.reuse(
        key,
        records,
        encoded.filter((r) => r.encoding === 2).map((r) => r.offset),
      );
    }
    const segment: SegmentEntry = {
      key,
      firstOffset: first.offset,
      lastOffset: last.offset,
      records: records.length,
      minTimestamp: Math.min(...records.map((r) => r.timestamp)),
      maxTimestamp: Math.max(...records.map((r) => r.timestamp)),
      storedBytes: stored.bytes,
      sha256: stored.sha256,
      bodySha256: stored.bodySha256,
      compression,
      encrypted: keyring !== undefined,
      ...(await this.summarize(records, codec)),
    };
    const head = await appendManifest(blobs, this.head, { topic: this.ctx.topic, partitions: this.ctx.partitions, segment, now: now() });
    if (!head) {
      // Another backup process wrote this version first: take its head, keep only what it did not archive.
      metrics?.inc('agentstate_backup_manifest_conflicts_total', { partition: String(this.partition) });
      this.head = await readHead(blobs, this.partition);
      const next = this.archivedNext();
      this.open = this.open.filter((r) => BigInt(r.offset) >= next);
      this.openBytes = this.open.reduce((n, r) => n + recordBytes(r), 0);
      logger?.warn({ partition: this.partition, version: this.head.version, next: next.toString() }, 'backup manifest moved on under us; re-reading it');
      return 'lost_race';
    }
    this.head = head;
    this.open = [];
    this.openBytes = 0;
    const labels = { partition: String(this.partition) };
    metrics?.inc('agentstate_backup_segments_total', labels);
    metrics?.inc('agentstate_backup_records_total', labels, records.length);
    metrics?.inc('agentstate_backup_bytes_total', labels, stored.bytes);
    metrics?.observe('agentstate_backup_segment_seconds', (performance.now() - started) / 1000);
    metrics?.set('agentstate_backup_archived_offset', Number(head.nextOffset), labels);
    logger?.debug({ partition: this.partition, key, records: records.length, bytes: stored.bytes }, 'backup segment written');
    return 'written';
  }

  /**
   * The segment key exists (a crash after the put, or a racing process):
   * reuse it only if it holds the same records (values compared in the clear:
   * encryption is not deterministic).
   */
  private async reuse(key: string, records: readonly SegmentRecord[], shredded: readonly string[]): Promise<{ bytes: number; sha256: string; bodySha256: string }> {
    const existing = await this.ctx.options.blobs.get(key);
    if (!existing) throw new ConflictError(`backup segment ${key} exists but cannot be read`, { retryable: true });
    let same = false;
    let bodySha256 = '';
    try {
      const segment = await openSegment(existing);
      bodySha256 = segment.bodySha256;
      same = sameRecords(await readableRecords(segment, this.ctx.options.keyring), records, shredded);
    } catch {
      same = false;
    }
    if (!same) throw new ConflictError(`backup segment ${key} exists with other content than the log holds for that range (tampered?); move it away to re-archive`);
    return { bytes: existing.length, sha256: sha256Hex(existing), bodySha256 };
  }

  /** Agents (record keys) and the versions their events carry; records that are not events are counted. */
  private async summarize(records: readonly SegmentRecord[], codec: EventCodec): Promise<{ agents: Record<string, AgentRange>; otherRecords: number }> {
    const agents: Record<string, AgentRange> = {};
    let otherRecords = 0;
    const reader = backupReader(codec, this.ctx.options.blobs, this.ctx.options.keyring);
    for (const r of records) {
      const reading = await readEventRecord(r, reader);
      if (reading.kind !== 'event') {
        otherRecords++;
        continue;
      }
      const v = reading.event.version;
      const a = agents[r.key];
      if (!a) agents[r.key] = { firstVersion: v, lastVersion: v, events: 1 };
      else {
        a.firstVersion = Math.min(a.firstVersion, v);
        a.lastVersion = Math.max(a.lastVersion, v);
        a.events++;
      }
    }
    return { agents, otherRecords };
  }

  /**
   * Lag and RPO of this partition: records past the archived offset, and the
   * age of the oldest of them (0 when caught up).
   */
  async lag(end: bigint, now: number): Promise<{ records: bigint; seconds: number }> {
    await this.serial(() => this.loadedHead());
    const next = this.archivedNext();
    this.highWatermark = end > (this.highWatermark ?? 0n) ? end : this.highWatermark;
    const records = end > next ? end - next : 0n;
    if (records === 0n) return { records, seconds: 0 };
    let ts = this.open[0] && BigInt(this.open[0].offset) === next ? this.open[0].timestamp : undefined;
    if (ts === undefined) {
      if (this.pendingTs?.offset !== next) {
        const [r] = await this.ctx.options.log.read(this.ctx.topic, this.partition, next.toString(), (next + 1n).toString());
        this.pendingTs = r ? { offset: next, timestamp: r.timestamp } : undefined;
      }
      ts = this.pendingTs?.timestamp;
    }
    return { records, seconds: ts === undefined ? 0 : Math.max(0, (now - ts) / 1000) };
  }
}

/** `codec` with each value buffer decoded at most once (by identity; decoded events are never mutated by their readers). */
function decodingOnce(codec: EventCodec): EventCodec {
  const decoded = new WeakMap<Buffer, Promise<StateEvent>>();
  return {
    encode: (event) => codec.encode(event),
    encodeHeartbeat: (heartbeat) => codec.encodeHeartbeat(heartbeat),
    decode: (value) => {
      let d = decoded.get(value);
      if (!d) {
        d = codec.decode(value);
        decoded.set(value, d);
      }
      return d;
    },
  };
}
