// The cache value format of an agent's current state, shared by the projector (writes) and the StateManager (reads).
import { DecodeError } from '../errors.js';
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
  /**
   * The state at `version` is too large for the cache: there is no body, read
   * the store. Written instead of deleting the key, so the entry keeps its
   * version and a read-through fill of an older store row cannot take its place.
   */
  inStore?: true;
}

/**
 * Cache values are a one-line JSON header, a newline, then the encoded body
 * (the same bytes as the store row), so a reader can check the version before
 * decoding megabytes.
 */
export function encodeCached(header: CachedHeader, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`, 'utf8'), body]);
}

/**
 * Splits a cache value and checks its header's shape (not the body: the reader
 * verifies the state checksum after decoding it, DESIGN.md Invariant 6).
 * @throws AgentStateError AS_DECODE on a missing or malformed header
 */
export function decodeCached(value: Buffer): { header: CachedHeader; body: Buffer } {
  const nl = value.indexOf(0x0a);
  if (nl < 0) throw new DecodeError('cached state', 'no header line');
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.subarray(0, nl).toString('utf8'));
  } catch (err) {
    throw new DecodeError('cached state', `header is not JSON (${(err as Error).message})`, { cause: err });
  }
  if (!isHeader(parsed)) throw new DecodeError('cached state', 'header has missing or mistyped fields');
  const body = value.subarray(nl + 1);
  if (!parsed.inStore && body.length !== parsed.encoding.storedSize) {
    throw new DecodeError('cached state', `body is ${body.length} bytes, header says ${parsed.encoding.storedSize}`);
  }
  return { header: parsed, body };
}

function isHeader(h: unknown): h is CachedHeader {
  if (typeof h !== 'object' || h === null) return false;
  const x = h as Record<string, unknown>;
  const e = x.encoding as Record<string, unknown> | null | undefined;
  return (
    typeof x.instanceId === 'string' &&
    Number.isSafeInteger(x.version) &&
    Number.isSafeInteger(x.epoch) &&
    typeof x.checksum === 'string' &&
    typeof x.updatedAt === 'number' &&
    (x.inStore === undefined || x.inStore === true) &&
    typeof e === 'object' &&
    e !== null &&
    typeof e.algorithm === 'string' &&
    Number.isSafeInteger(e.originalSize) &&
    Number.isSafeInteger(e.storedSize)
  );
}
