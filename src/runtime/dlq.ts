import type { EventLog, StoredRecord } from '../log/port.js';
import { DLQ_HEADER } from '../projector/wire.js';

/** A record refused by a runtime host or the recovery service, and why. */
export interface Refused {
  record: StoredRecord;
  /** The DLQ `reason` header: a short code (malformed_heartbeat, unknown_node, superseded, ...). */
  reason: string;
  detail: string;
  /** More headers (who refused it). */
  headers?: Record<string, string>;
}

/**
 * Sends refused heartbeat or control records to the DLQ as they were, with
 * the reason and where they came from in headers (the projector's DLQ layout),
 * so nothing refused is lost and an operator sees why.
 */
export async function sendToDlq(log: EventLog, dlqTopic: string, refused: Refused[]): Promise<void> {
  if (refused.length === 0) return;
  const at = String(Date.now());
  await log.append(
    dlqTopic,
    refused.map(({ record, reason, detail, headers }) => ({
      key: record.key,
      value: record.value,
      headers: {
        ...record.headers,
        [DLQ_HEADER.reason]: reason,
        [DLQ_HEADER.detail]: detail.slice(0, 1000),
        [DLQ_HEADER.topic]: record.topic,
        [DLQ_HEADER.partition]: String(record.partition),
        [DLQ_HEADER.offset]: record.offset,
        [DLQ_HEADER.rejectedAt]: at,
        ...headers,
      },
    })),
  );
}
