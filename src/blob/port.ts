import type { Readable } from 'node:stream';
import { InvalidInputError } from '../domain/errors.js';

/**
 * Checks a key every adapter accepts the same way: `/`-separated segments,
 * none empty, `.` or `..`, no backslash or NUL, each at most 255 bytes. S3
 * servers normalise `a/../b` (one wrote a snapshot at the bucket root, outside
 * the deployment's prefix), and a file system would follow it.
 * @throws InvalidInputError naming the key
 */
export function assertBlobKey(key: string): void {
  const ok = typeof key === 'string' && key !== '' && !key.includes('\0') && !key.includes('\\') && key.split('/').every((s) => s !== '' && s !== '.' && s !== '..' && Buffer.byteLength(s) <= 255);
  if (!ok) throw new InvalidInputError('blob key', `${JSON.stringify(key)} has an empty, "." or ".." segment, a backslash or NUL, or a segment past 255 bytes`);
}

/** What the store knows about one object. */
export interface BlobInfo {
  key: string;
  size: number;
  etag?: string;
  lastModified?: Date;
}

export interface BlobPutOptions {
  /**
   * Create only: fail with `AlreadyExistsError` when the key exists
   * (S3 `If-None-Match: *`). Content-addressed objects use it so a retried
   * write never replaces bytes already referenced (DESIGN.md Invariant 4).
   * @default false
   */
  ifNoneMatch?: boolean;
  contentType?: string;
  /** Small string metadata stored with the object. */
  metadata?: Record<string, string>;
}

/**
 * The blob port: snapshot bodies, backup segments, manifests, large-state claim
 * checks. Adapters: S3 (`S3BlobStore`) and the local file system (embedded).
 */
export interface BlobStore {
  /** Creates what the adapter needs (bucket, directory). Idempotent. */
  setup(): Promise<void>;
  /** Writes a whole object; streams of unknown length are uploaded in parts. */
  put(key: string, body: Uint8Array | Readable, options?: BlobPutOptions): Promise<BlobInfo>;
  /** The whole object, or undefined when it does not exist. */
  get(key: string): Promise<Buffer | undefined>;
  /** The object as a stream, or undefined when it does not exist. */
  getStream(key: string): Promise<Readable | undefined>;
  head(key: string): Promise<BlobInfo | undefined>;
  /** Objects whose key starts with `prefix`, in key order. */
  list(prefix: string): AsyncIterable<BlobInfo>;
  /** Removes the object; absent objects are not an error. */
  delete(key: string): Promise<void>;
  /** Releases what the adapter created; safe to call twice. */
  close(): Promise<void>;
}
