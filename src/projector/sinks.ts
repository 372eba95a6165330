import type { BlobStore } from '../blob/port.js';
import type { Cache } from '../cache/port.js';
import { AlreadyExistsError } from '../errors.js';
import { canonicalJson, encodeKeySegment, type Change, type JsonObject } from '../domain/index.js';
import type { EventLog, LogRecord } from '../log/port.js';
import type { TopicNames } from '../log/topics.js';
import type { StateStore, StoredEvent, StoredState } from '../store/port.js';
import { DEFAULT_STATE_FIELDS_OPTIONS, splitState } from '../store/state-fields.js';
import { encodeState, type BodyOptions, type EncodedBody } from '../codec/state-body.js';
import type { BatchPlan } from './fold-batch.js';
import type { Head } from './heads.js';
import type { StateTopicValue } from '../log/state-topic.js';
import { encodeCached, stateCacheKey } from '../cache/state-entry.js';
import { DLQ_HEADER } from './wire.js';
import { storedEvent } from '../store/stored-event.js';

export interface SinkOptions {
  log: EventLog;
  store: StateStore;
  blobs: BlobStore;
  cache: Cache | undefined;
  topics: TopicNames;
  body: BodyOptions;
  claimCheckBytes: number;
  cacheMaxBytes: number;
  cacheTtlMs: number | null;
  publishState: boolean;
}

/** A changed head with its encoded body, and the blob key when the body is claim-checked. */
export interface EncodedHead {
  head: Head;
  body: EncodedBody;
  blobKey: string | null;
}

/**
 * The projector's outputs. Every write is idempotent (DESIGN.md Invariant 4):
 * version-guarded store upserts, insert-if-absent event rows, content-addressed
 * blobs, cache and compacted-topic values keyed by agent (a replay rewrites
 * the same latest value). The DLQ is at least once: a redelivered rejected
 * record is sent again, with the same source topic/partition/offset headers,
 * so DLQ readers can dedupe on them.
 */
export class Sinks {
  constructor(private readonly o: SinkOptions) {}

  async dlq(plan: BatchPlan): Promise<void> {
    if (plan.rejected.length === 0) return;
    const now = String(Date.now());
    const records: LogRecord[] = plan.rejected.map((r) => ({
      key: r.record.key,
      value: r.record.value,
      headers: {
        ...r.record.headers,
        [DLQ_HEADER.reason]: r.reason,
        [DLQ_HEADER.detail]: (r.detail ?? '').slice(0, 1000),
        [DLQ_HEADER.topic]: r.record.topic,
        [DLQ_HEADER.partition]: String(r.record.partition),
        [DLQ_HEADER.offset]: r.record.offset,
        ...(r.event ? { [DLQ_HEADER.eventId]: r.event.eventId, [DLQ_HEADER.version]: String(r.event.version) } : {}),
        [DLQ_HEADER.rejectedAt]: now,
      },
    }));
    await appendInChunks(this.o.log, this.o.topics.dlq, records);
  }

  /** Encodes changed heads; states whose JSON is above the claim-check size go to the blob store under a content-addressed key. */
  async encode(heads: Map<string, Head>): Promise<Map<string, EncodedHead>> {
    const out = new Map<string, EncodedHead>();
    for (const [id, head] of heads) {
      const body = await encodeState(head.projection.state, this.o.body);
      let blobKey: string | null = null;
      if (body.encoding.originalSize > this.o.claimCheckBytes) {
        blobKey = `states/${encodeKeySegment(id)}/${head.projection.version}-${head.projection.checksum}`;
        try {
          await this.o.blobs.put(blobKey, body.bytes, { ifNoneMatch: true });
        } catch (err) {
          if (!(err instanceof AlreadyExistsError)) throw err;
        }
      }
      out.set(id, { head, body, blobKey });
    }
    return out;
  }

  /** The `state_events` mirror rows of a batch's accepted events (insert-if-absent). */
  async storeEvents(plan: BatchPlan): Promise<void> {
    if (plan.accepted.length === 0) return;
    const events: StoredEvent[] = plan.accepted.map(({ event, record, body, parts }) =>
      storedEvent(event, { partition: record.partition, offset: record.offset }, body, {
        parsed: (event.changesetRef ? { ...event, changeset: queryableChanges(event.changeset) } : event) as unknown as JsonObject,
        ...(parts ? { parts } : {}),
      }),
    );
    await this.o.store.writeBatch({ states: [], events });
  }

  /** The `agent_states` rows of a batch's changed heads (version-guarded). */
  async storeStates(plan: BatchPlan, encoded: Map<string, EncodedHead>): Promise<void> {
    if (encoded.size === 0) return;
    // The seed's `modifiedBy`: the source of each agent's last accepted event.
    const sources = new Map<string, string>();
    for (const { event } of plan.accepted) sources.set(event.instanceId, event.source);
    const fieldOptions = { ...DEFAULT_STATE_FIELDS_OPTIONS, historyLimit: this.o.body.taskHistoryLimit };
    const states: StoredState[] = [];
    for (const [id, { head, body, blobKey }] of encoded) {
      const state = head.projection.state;
      const s = state as { agentType?: unknown; status?: unknown };
      // Queryable fields + the residual as the inline body; a claim-checked
      // blob is the whole state, so nothing more is encoded for it (docs/store.md).
      const { fields, residual } = splitState(state, fieldOptions);
      const stored = blobKey === null ? await encodeState(residual, this.o.body) : body;
      states.push({
        instanceId: id,
        version: head.projection.version,
        epoch: head.projection.epoch,
        checksum: head.projection.checksum,
        agentType: typeof s.agentType === 'string' ? s.agentType : null,
        status: typeof s.status === 'string' ? s.status : null,
        fields,
        modifiedBy: sources.get(id) ?? null,
        encoding: stored.encoding,
        body: blobKey === null ? stored.bytes : null,
        blobKey,
        position: head.position,
        lastEventId: head.lastEventId,
        lastEventType: head.lastEventType,
        updatedAt: head.updatedAt,
        createdAt: head.createdAt,
      });
    }
    await this.o.store.writeBatch({ states, events: [] });
  }

  /**
   * Writes each head to the cache with a version guard, so a late write (a
   * redelivered batch, a slow retry) never replaces a newer entry. A state too
   * large to cache leaves a body-less entry at its version (`inStore`), not a
   * hole a reader's fill of an older store row could take.
   */
  async cache(encoded: Map<string, EncodedHead>): Promise<void> {
    const cache = this.o.cache;
    if (!cache) return;
    const ttl = this.o.cacheTtlMs === null ? undefined : this.o.cacheTtlMs;
    await Promise.all(
      [...encoded].map(async ([id, { head, body }]) => {
        const tooLarge = body.bytes.length > this.o.cacheMaxBytes;
        const value = encodeCached(
          {
            instanceId: id,
            version: head.projection.version,
            epoch: head.projection.epoch,
            checksum: head.projection.checksum,
            updatedAt: head.updatedAt,
            encoding: body.encoding,
            ...(tooLarge ? { inStore: true as const } : {}),
          },
          tooLarge ? Buffer.alloc(0) : body.bytes,
        );
        await cache.setIfNewer(stateCacheKey(id), value, head.projection.version, ttl);
      }),
    );
  }

  async stateTopic(encoded: Map<string, EncodedHead>): Promise<void> {
    if (!this.o.publishState || encoded.size === 0) return;
    const records: LogRecord[] = [...encoded].map(([id, { head, body, blobKey }]) => {
      const base = {
        instanceId: id,
        version: head.projection.version,
        epoch: head.projection.epoch,
        checksum: head.projection.checksum,
        updatedAt: head.updatedAt,
        position: head.position,
      };
      const value: StateTopicValue = blobKey === null ? { ...base, state: head.projection.state } : { ...base, claimCheck: { blobKey, encoding: body.encoding } };
      return {
        key: id,
        value: Buffer.from(JSON.stringify(value), 'utf8'),
        headers: { version: String(head.projection.version), checksum: head.projection.checksum },
      };
    });
    await appendInChunks(this.o.log, this.o.topics.state, records);
  }
}

/**
 * Appends in requests of at most ~512 KiB of values: one request per batch of
 * hundreds of states would pass the broker's 1 MB `message.max.bytes` and fail
 * every retry (inline states are at most `claimCheckBytes`, 512 KiB, each).
 */
async function appendInChunks(log: EventLog, topic: string, records: LogRecord[], maxBytes = 512 * 1024): Promise<void> {
  let chunk: LogRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    const size = (r.value?.length ?? 0) + r.key.length;
    if (chunk.length > 0 && bytes + size > maxBytes) {
      await log.append(topic, chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(r);
    bytes += size;
  }
  if (chunk.length > 0) await log.append(topic, chunk);
}

/** Largest value (canonical JSON bytes) of a claim-checked changeset the mirror's query view keeps. */
const MIRROR_VALUE_MAX_BYTES = 1024;

/**
 * The query view of a claim-checked changeset (docs/projector.md, Large
 * changesets in the mirror): every change's path and op, and each old or new
 * value up to {@link MIRROR_VALUE_MAX_BYTES} of canonical JSON; a larger value
 * stays only in the blob, so the mirror document stays far below MongoDB's
 * 16 MB while "which events set /status to error" still finds the event.
 */
function queryableChanges(changes: readonly Change[]): Change[] {
  const small = (v: Change['newValue']): v is NonNullable<Change['newValue']> | null => v !== undefined && Buffer.byteLength(canonicalJson(v), 'utf8') <= MIRROR_VALUE_MAX_BYTES;
  return changes.map(({ oldValue, newValue, ...rest }) => ({ ...rest, ...(small(oldValue) ? { oldValue } : {}), ...(small(newValue) ? { newValue } : {}) }));
}
