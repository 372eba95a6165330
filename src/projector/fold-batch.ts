import type { EventCodec } from '../codec/event-codec.js';
import { canonicalJson, readEventRecord, step, type StateEvent } from '../domain/index.js';
import type { StoredRecord } from '../log/port.js';
import type { Head } from './heads.js';
import { joinEventBody, splitEventBody, type EventBodyParts } from '../store/event-body.js';
import type { SnapshotInput, Snapshotter } from '../snapshots/snapshotter.js';

/** A record routed to the DLQ, and why. */
export interface Rejected {
  record: StoredRecord;
  reason: string;
  detail?: string;
  event?: StateEvent;
}

/** What one batch does, computed before any sink is written. */
export interface BatchPlan {
  /**
   * With each event's canonical JSON, made once here for the event mirror (and
   * the byte policy), and its parts when it was made from them (the mirror row
   * keeps the changeset once: src/store/event-body.ts).
   */
  accepted: Array<{ event: StateEvent; record: StoredRecord; body: Buffer; parts?: EventBodyParts }>;
  // (`body` of a claim-checked event holds its reference, not the resolved changes.)
  rejected: Rejected[];
  /** Redelivered records already reflected in the store (offset at or before the head's). */
  skipped: number;
  /** Heads changed by the batch. */
  heads: Map<string, Head>;
  snapshots: SnapshotInput[];
}

/**
 * Folds one partition batch with the domain's `step` (decide, apply, verify
 * the checksum: DESIGN.md Invariants 1-3). Pure except for decoding: nothing
 * is written here, so a failure before the sinks hold changes nothing.
 */
export async function foldBatch(records: StoredRecord[], headOf: (id: string) => Head | undefined, codec: EventCodec, snapshotter: Snapshotter | undefined): Promise<BatchPlan> {
  const plan: BatchPlan = { accepted: [], rejected: [], skipped: 0, heads: new Map(), snapshots: [] };
  for (const record of records) {
    if (record.value === null) continue;
    const id = record.key;
    const head = plan.heads.get(id) ?? headOf(id);
    // A redelivery after a crash between the sink writes and the commit:
    // already applied, not a duplicate to reject (Invariant 4).
    if (head && head.position.partition === record.partition && BigInt(record.offset) <= BigInt(head.position.offset)) {
      plan.skipped++;
      continue;
    }
    const reading = await readEventRecord(record, codec);
    if (reading.kind === 'tombstone') continue;
    if (reading.kind === 'rejected') {
      plan.rejected.push({ record, reason: reading.reason, detail: reading.detail, ...(reading.event ? { event: reading.event } : {}) });
      continue;
    }
    const event = reading.event;
    const result = step(head?.projection, event);
    if (!result.accept) {
      plan.rejected.push({ record, reason: result.reason, ...(result.detail === undefined ? {} : { detail: result.detail }), event });
      continue;
    }
    // The mirror keeps a claim-checked event as it is on the log (the reference, not the
    // resolved changes): its readers resolve it through readEventRecord like every reader.
    // The changes' canonical text once, for both the body and the mirror's query view.
    const parts = event.changesetRef ? undefined : splitEventBody(event);
    const body = Buffer.from(parts ? joinEventBody(parts.rest, parts.changes) : canonicalJson(event.changesetRef ? { ...event, changeset: [] } : event), 'utf8');
    const next: Head = {
      projection: result.projection,
      position: { partition: record.partition, offset: record.offset },
      createdAt: head?.createdAt ?? event.timestamp,
      updatedAt: event.timestamp,
      lastEventId: event.eventId,
      lastEventType: event.eventType,
      // Event bytes (canonical JSON), of which the changeset is nearly all: one serialisation per event, shared with the mirror.
      bytesSinceSnapshot: (head?.bytesSinceSnapshot ?? 0) + body.length + (event.changesetRef?.bytes ?? 0),
    };
    plan.heads.set(id, next);
    plan.accepted.push({ event, record, body, ...(parts ? { parts } : {}) });
    const due = snapshotter?.dueAt(event.version);
    const byBytes = snapshotter !== undefined && snapshotter.policy.everyBytes > 0 && next.bytesSinceSnapshot >= snapshotter.policy.everyBytes;
    if (due !== undefined || byBytes) {
      next.bytesSinceSnapshot = 0;
      plan.snapshots.push({
        instanceId: id,
        version: event.version,
        epoch: event.writerEpoch,
        state: result.projection.state,
        checksum: result.projection.checksum,
        stateTimestamp: event.timestamp,
        type: due ?? 'full',
        trigger: due !== undefined ? 'policy:events' : 'policy:bytes',
      });
    }
  }
  return plan;
}
