import { createHash } from 'node:crypto';
import type { StoredRecord } from '../log/port.js';
import { openBlob, sealBlob } from '../codec/blob-frame.js';
import type { CompressionAlgorithm } from '../codec/compression.js';
import { DecodeError } from '../codec/errors.js';

/**
 * A backup segment: a contiguous offset range of one partition of the events
 * topic, every record's offset, timestamp, key, headers and value bytes
 * exactly as the log holds them (docs/backup.md has the byte layout).
 *
 * The body is sealed in the compression frame (`sealBlob`: format version,
 * algorithm, sizes, SHA-256 of the body), so a flipped or missing byte is
 * found on every read (DESIGN.md Invariant 6).
 */

/** Body magic: "ASBS" (agentstate backup segment). */
const MAGIC = Buffer.from('ASBS', 'latin1');
/** Layout version of the body. */
export const SEGMENT_FORMAT_VERSION = 1;
const NULL_VALUE = 0xffffffff;

/** What the body says about itself, beside the records. */
export interface SegmentHeader {
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  count: number;
}

/**
 * How a record's value is stored: 0 = the log's bytes; 1 = an AES-256-GCM
 * frame (`Keyring.encrypt`) of them under the data key of the agent named by
 * the record key, with {@link valueAad} as associated data; 2 = withheld: the
 * agent's key was destroyed (crypto-shredded) before the record was archived,
 * so its bytes are not kept (value empty).
 */
export type ValueEncoding = 0 | 1 | 2;

/** One record as a segment keeps it (a {@link StoredRecord} without topic/partition). */
export interface SegmentRecord {
  offset: string;
  timestamp: number;
  key: string;
  headers: Record<string, string>;
  value: Buffer | null;
  /** @default 0 (plain) */
  encoding?: ValueEncoding;
}

/** Associated data of an encrypted value: binds it to its topic, partition and offset (a value moved elsewhere fails to decrypt). */
export function valueAad(topic: string, partition: number, offset: string): Buffer {
  return Buffer.from(`${topic}\u0000${partition}\u0000${offset}`, 'utf8');
}

/** A decoded segment. */
export interface Segment extends SegmentHeader {
  records: SegmentRecord[];
}

class Writer {
  private readonly chunks: Buffer[] = [];
  size = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
  }
  u32(n: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(n, 0);
    this.push(b);
  }
  u64(n: bigint): void {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64BE(n, 0);
    this.push(b);
  }
  i64(n: number): void {
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(BigInt(n), 0);
    this.push(b);
  }
  bytes(b: Buffer): void {
    this.u32(b.length);
    this.push(b);
  }
  str(s: string): void {
    this.bytes(Buffer.from(s, 'utf8'));
  }
  done(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new DecodeError('backup segment', `truncated at byte ${this.pos} (needs ${n} more, has ${this.buf.length - this.pos})`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  i64(): number {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return Number(v);
  }
  raw(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  bytes(): Buffer {
    return this.raw(this.u32());
  }
  str(): string {
    return this.bytes().toString('utf8');
  }
  get left(): number {
    return this.buf.length - this.pos;
  }
}

/**
 * Encodes records of one partition (contiguous offsets, in order) as a
 * segment body. @throws DecodeError when the records are not contiguous
 */
export function encodeSegment(topic: string, partition: number, records: readonly (SegmentRecord | StoredRecord)[]): Buffer {
  const first = records[0];
  const last = records.at(-1);
  if (!first || !last) throw new DecodeError('backup segment', 'a segment holds at least one record');
  const w = new Writer();
  w.push(MAGIC);
  w.push(Buffer.from([SEGMENT_FORMAT_VERSION, 0, 0, 0]));
  w.u32(partition);
  w.u64(BigInt(first.offset));
  w.u64(BigInt(last.offset));
  w.u32(records.length);
  const t = Buffer.from(topic, 'utf8');
  const tl = Buffer.allocUnsafe(2);
  tl.writeUInt16BE(t.length, 0);
  w.push(tl);
  w.push(t);
  let expected = BigInt(first.offset);
  for (const r of records) {
    if (BigInt(r.offset) !== expected) throw new DecodeError('backup segment', `records are not contiguous: offset ${r.offset} where ${expected} was expected`);
    expected++;
    w.u64(BigInt(r.offset));
    w.i64(r.timestamp);
    w.str(r.key);
    const headers = Object.entries(r.headers);
    w.u32(headers.length);
    for (const [name, value] of headers) {
      w.str(name);
      w.str(value);
    }
    w.push(Buffer.from([(r as SegmentRecord).encoding ?? 0]));
    if (r.value === null) w.u32(NULL_VALUE);
    else w.bytes(r.value);
  }
  return w.done();
}

/**
 * Decodes a segment body and checks it is self-consistent: magic, version,
 * the declared count and offset range against the records, contiguity, no
 * trailing bytes. @throws DecodeError
 */
export function decodeSegment(body: Buffer): Segment {
  const r = new Reader(body);
  if (!r.raw(4).equals(MAGIC)) throw new DecodeError('backup segment', 'bad magic (expected "ASBS")');
  const version = r.u8();
  if (version !== SEGMENT_FORMAT_VERSION) throw new DecodeError('backup segment', `unsupported format version ${version}`);
  r.raw(3);
  const partition = r.u32();
  const first = r.u64();
  const last = r.u64();
  const count = r.u32();
  const topic = r.raw(r.u16()).toString('utf8');
  if (last - first + 1n !== BigInt(count)) throw new DecodeError('backup segment', `declares offsets ${first}-${last} but ${count} records`);
  const records: SegmentRecord[] = [];
  for (let i = 0; i < count; i++) {
    const offset = r.u64();
    if (offset !== first + BigInt(i)) throw new DecodeError('backup segment', `record ${i} has offset ${offset}, expected ${first + BigInt(i)}`);
    const timestamp = r.i64();
    const key = r.str();
    const headers: Record<string, string> = {};
    const n = r.u32();
    for (let h = 0; h < n; h++) {
      const name = r.str();
      headers[name] = r.str();
    }
    const encoding = r.u8();
    if (encoding > 2) throw new DecodeError('backup segment', `record ${offset} has unknown value encoding ${encoding}`);
    const len = r.u32();
    const value = len === NULL_VALUE ? null : Buffer.from(r.raw(len));
    records.push({ offset: offset.toString(), timestamp, key, headers, value, ...(encoding !== 0 ? { encoding: encoding as ValueEncoding } : {}) });
  }
  if (r.left !== 0) throw new DecodeError('backup segment', `${r.left} bytes after the last record`);
  return { topic, partition, firstOffset: first.toString(), lastOffset: last.toString(), count, records };
}

/** A sealed segment and the checksums a manifest entry records. */
export interface SealedSegment {
  bytes: Buffer;
  /** SHA-256 hex of the stored bytes (what `verify` checks before opening). */
  sha256: string;
  /** SHA-256 hex of the body (also inside the frame header). */
  bodySha256: string;
  bodyBytes: number;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Encodes and seals a segment (compression frame; deterministic for the same records and algorithm). */
export async function sealSegment(topic: string, partition: number, records: readonly (SegmentRecord | StoredRecord)[], algorithm: CompressionAlgorithm): Promise<SealedSegment> {
  const body = encodeSegment(topic, partition, records);
  const bytes = await sealBlob(body, { algorithm });
  return { bytes, sha256: sha256Hex(bytes), bodySha256: sha256Hex(body), bodyBytes: body.length };
}

/**
 * Opens a stored segment: frame checks (sizes, SHA-256), then the body.
 * @throws DecodeError, ChecksumMismatchError, TooLargeError
 */
export async function openSegment(bytes: Uint8Array): Promise<Segment & { bodySha256: string }> {
  const body = await openBlob(bytes, { maxOriginalBytes: 1024 * 1024 * 1024 });
  return { ...decodeSegment(body), bodySha256: sha256Hex(body) };
}
