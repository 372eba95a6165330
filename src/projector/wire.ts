import { AgentStateError } from '../errors.js';
import type { BodyEncoding } from '../store/port.js';

/** Cache key of an agent's current state. */
export function stateCacheKey(instanceId: string): string {
  return `state:${instanceId}`;
}

/** The metadata stored with a cached state. */
export interface CachedHeader {
  instanceId: string;
  version: number;
  epoch: number;
  checksum: string;
  updatedAt: number;
  encoding: BodyEncoding;
}

/**
 * Cache values are a one-line JSON header, a newline, then the encoded body
 * (the same bytes as the store row), so a reader can check the version before
 * decoding megabytes.
 */
export function encodeCached(header: CachedHeader, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`, 'utf8'), body]);
}

export function decodeCached(value: Buffer): { header: CachedHeader; body: Buffer } {
  const nl = value.indexOf(0x0a);
  if (nl < 0) throw new AgentStateError('AS_DECODE', 'cached state has no header line');
  const header = JSON.parse(value.subarray(0, nl).toString('utf8')) as CachedHeader;
  return { header, body: value.subarray(nl + 1) };
}

/** Headers of a DLQ record (the value is the original record's value). */
export const DLQ_HEADER = {
  reason: 'reason',
  detail: 'detail',
  topic: 'sourceTopic',
  partition: 'sourcePartition',
  offset: 'sourceOffset',
  eventId: 'eventId',
  version: 'version',
  rejectedAt: 'rejectedAt',
} as const;
