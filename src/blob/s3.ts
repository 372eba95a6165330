import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { AlreadyExistsError, ClosedError, ConfigError, UnavailableError } from '../errors.js';
import { assertBlobKey, type BlobInfo, type BlobPutOptions, type BlobStore } from './port.js';

export interface S3BlobStoreOptions {
  bucket: string;
  /** Prepended to every key; lets tenants or tests share a bucket. @default '' */
  prefix?: string;
  /** A client the caller owns (never closed here). Else one is built from the fields below. */
  client?: S3Client;
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Path-style addressing, needed by most self-hosted S3 servers. @default true */
  forcePathStyle?: boolean;
  /** Bodies larger than this go up as multipart, in parts of this size. @default 8 MiB */
  partSize?: number;
  /** Create the bucket in setup() when it is missing. @default true */
  createBucket?: boolean;
}

const MIN_PART = 5 * 1024 * 1024; // S3's minimum part size (all but the last part)

/** Blob port on any S3-compatible server (AWS S3, versitygw, MinIO...). */
export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;
  private readonly ownsClient: boolean;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partSize: number;
  private readonly createBucket: boolean;
  private closed = false;

  constructor(options: S3BlobStoreOptions) {
    if (!options.bucket) throw new ConfigError('bucket', 'is required');
    const partSize = options.partSize ?? 8 * 1024 * 1024;
    if (!Number.isInteger(partSize) || partSize < MIN_PART) {
      throw new ConfigError('partSize', `must be an integer >= ${MIN_PART} (S3 minimum part size)`);
    }
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
    this.partSize = partSize;
    this.createBucket = options.createBucket ?? true;
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      if (!options.endpoint && !options.region) throw new ConfigError('endpoint', 'endpoint or region is required');
      this.client = new S3Client({
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        region: options.region ?? 'us-east-1',
        forcePathStyle: options.forcePathStyle ?? true,
        ...(options.accessKeyId && options.secretAccessKey ? { credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } } : {}),
      });
      this.ownsClient = true;
    }
  }

  async setup(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (err) {
      if (!isStatus(err, 404) || !this.createBucket) throw wrap(err, `S3 bucket ${this.bucket}`);
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      // A concurrent setup() may have created it.
      const name = (err as { name?: string }).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw wrap(err, `S3 bucket ${this.bucket}`);
    }
  }

  async put(key: string, body: Uint8Array | Readable, options: BlobPutOptions = {}): Promise<BlobInfo> {
    const Key = this.keyOf(key);
    const common = {
      Bucket: this.bucket,
      Key,
      ...(options.contentType ? { ContentType: options.contentType } : {}),
      ...(options.metadata ? { Metadata: options.metadata } : {}),
    };
    // Read up to one part: a small body goes up in one PUT, a large one as multipart.
    let head: Chunked;
    if (body instanceof Uint8Array) {
      head = { buf: Buffer.from(body.buffer, body.byteOffset, body.byteLength), ended: true, source: undefined };
    } else {
      const source = body[Symbol.asyncIterator]();
      head = { ...(await readUpTo(source, this.partSize + 1, Buffer.alloc(0))), source };
    }
    if (head.ended && head.buf.length <= this.partSize) {
      try {
        const out = await this.client.send(
          new PutObjectCommand({
            ...common,
            Body: head.buf,
            ContentLength: head.buf.length,
            ...(options.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
          }),
        );
        return { key, size: head.buf.length, ...(out.ETag ? { etag: out.ETag } : {}) };
      } catch (err) {
        throw mapPutError(err, key);
      }
    }
    return this.putMultipart(key, common, head, options);
  }

  private async putMultipart(key: string, common: { Bucket: string; Key: string }, head: Chunked, options: BlobPutOptions): Promise<BlobInfo> {
    const created = await this.client.send(new CreateMultipartUploadCommand(common)).catch((err: unknown) => {
      throw wrap(err, `S3 multipart upload of ${key}`);
    });
    const UploadId = created.UploadId!;
    const parts: CompletedPart[] = [];
    let size = 0;
    let { buf, ended } = head;
    try {
      for (let partNumber = 1; ; partNumber++) {
        // Hold one byte more than a part, so we know whether this part is the last.
        if (!ended && buf.length <= this.partSize) ({ buf, ended } = await readUpTo(head.source!, this.partSize + 1, buf));
        const chunk = buf.subarray(0, this.partSize);
        buf = buf.subarray(chunk.length);
        const out = await this.client.send(new UploadPartCommand({ ...common, UploadId, PartNumber: partNumber, Body: chunk, ContentLength: chunk.length }));
        parts.push({ PartNumber: partNumber, ETag: out.ETag! });
        size += chunk.length;
        if (ended && buf.length === 0) break;
      }
      const done = await this.client.send(
        new CompleteMultipartUploadCommand({
          ...common,
          UploadId,
          MultipartUpload: { Parts: parts },
          ...(options.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
        }),
      );
      return { key, size, ...(done.ETag ? { etag: done.ETag } : {}) };
    } catch (err) {
      await this.client.send(new AbortMultipartUploadCommand({ ...common, UploadId })).catch(() => undefined);
      throw mapPutError(err, key);
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    const stream = await this.getStream(key);
    if (!stream) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const Key = this.keyOf(key);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
      return out.Body as Readable;
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw wrap(err, `S3 get ${key}`);
    }
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    const Key = this.keyOf(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return {
        key,
        size: out.ContentLength ?? 0,
        ...(out.ETag ? { etag: out.ETag } : {}),
        ...(out.LastModified ? { lastModified: out.LastModified } : {}),
      };
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw wrap(err, `S3 head ${key}`);
    }
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    if (this.closed) throw new ClosedError('the S3 blob store');
    let ContinuationToken: string | undefined;
    do {
      const out = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ContinuationToken })).catch((err: unknown) => {
        throw wrap(err, `S3 list ${prefix}`);
      });
      for (const o of out.Contents ?? []) {
        yield {
          key: o.Key!.slice(this.prefix.length),
          size: o.Size ?? 0,
          ...(o.ETag ? { etag: o.ETag } : {}),
          ...(o.LastModified ? { lastModified: o.LastModified } : {}),
        };
      }
      ContinuationToken = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async delete(key: string): Promise<void> {
    const Key = this.keyOf(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (err) {
      if (!isStatus(err, 404)) throw wrap(err, `S3 delete ${key}`);
    }
  }

  /** The full object key; the key is checked first, so no segment can climb out of the prefix. */
  private keyOf(key: string): string {
    if (this.closed) throw new ClosedError('the S3 blob store');
    assertBlobKey(key);
    return this.prefix + key;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) this.client.destroy();
  }
}

interface Chunked {
  buf: Buffer;
  ended: boolean;
  source: AsyncIterator<unknown> | undefined;
}

/** Appends from `source` to `buf` until it holds `limit` bytes or the stream ends. */
async function readUpTo(source: AsyncIterator<unknown>, limit: number, buf: Buffer): Promise<{ buf: Buffer; ended: boolean }> {
  const chunks = [buf];
  let length = buf.length;
  while (length < limit) {
    const next = await source.next();
    if (next.done) return { buf: Buffer.concat(chunks, length), ended: true };
    const value = next.value;
    const chunk = typeof value === 'string' ? Buffer.from(value) : Buffer.from(value as Uint8Array);
    chunks.push(chunk);
    length += chunk.length;
  }
  return { buf: Buffer.concat(chunks, length), ended: false };
}

function isStatus(err: unknown, status: number): boolean {
  return err instanceof S3ServiceException ? err.$metadata.httpStatusCode === status : false;
}

function mapPutError(err: unknown, key: string): Error {
  if (isStatus(err, 412)) return new AlreadyExistsError(`blob ${key}`, { cause: err });
  return wrap(err, `S3 put ${key}`);
}

function wrap(err: unknown, what: string): Error {
  if (err instanceof AlreadyExistsError || err instanceof UnavailableError) return err;
  const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
  const retryable = status === undefined || status >= 500 || status === 429;
  return new UnavailableError(`${what} (${(err as Error).name}: ${(err as Error).message})`, { cause: err, retryable });
}
