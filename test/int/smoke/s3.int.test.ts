import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../../src/blob/s3.js';
import { AlreadyExistsError } from '../../../src/errors.js';
import { stackEnv, uniqueName } from '../../support/env.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('S3 blob store against a real S3 server', () => {
  let store: S3BlobStore;

  beforeAll(async () => {
    const { s3 } = stackEnv();
    store = new S3BlobStore({
      endpoint: s3.endpoint,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      bucket: s3.bucket,
      prefix: `${uniqueName('smoke')}/`,
      partSize: 5 * 1024 * 1024,
    });
    await store.setup();
    await store.setup(); // idempotent
  });
  afterAll(async () => {
    await store.close();
    await store.close(); // safe twice
  });

  it('puts and gets a small object byte for byte', async () => {
    const body = randomBytes(1000);
    const info = await store.put('small.bin', body);
    expect(info.size).toBe(1000);
    expect(sha((await store.get('small.bin'))!)).toBe(sha(body));
    expect(await store.get('missing.bin')).toBeUndefined();
  });

  it('streams an upload of unknown length and reads it back as a stream', async () => {
    const chunks = Array.from({ length: 40 }, () => randomBytes(64 * 1024 + 7));
    const expected = Buffer.concat(chunks);
    const info = await store.put('streamed.bin', Readable.from(chunks));
    expect(info.size).toBe(expected.length);
    const stream = (await store.getStream('streamed.bin'))!;
    const got: Buffer[] = [];
    for await (const c of stream) got.push(c as Buffer);
    expect(sha(Buffer.concat(got))).toBe(sha(expected));
  });

  it('uploads a body larger than a part as multipart, parts reassembled in order', async () => {
    // 12 MiB + a bit, in odd-sized chunks: three parts of 5 MiB, 5 MiB and the rest.
    const expected = randomBytes(12 * 1024 * 1024 + 12345);
    const chunks: Buffer[] = [];
    for (let i = 0; i < expected.length; i += 777_777) chunks.push(expected.subarray(i, i + 777_777));
    const info = await store.put('multi.bin', Readable.from(chunks));
    expect(info.size).toBe(expected.length);
    // A multipart ETag ends with -<number of parts>.
    expect(info.etag).toMatch(/-3"?$/);
    const head = await store.head('multi.bin');
    expect(head?.size).toBe(expected.length);
    expect(sha((await store.get('multi.bin'))!)).toBe(sha(expected));
  });

  it('lists by prefix in key order, across pages', async () => {
    const keys = Array.from({ length: 5 }, (_, i) => `list/k${i}`);
    await Promise.all(keys.map((k) => store.put(k, Buffer.from(k))));
    await store.put('other/x', Buffer.from('x'));
    const listed: string[] = [];
    for await (const o of store.list('list/')) listed.push(o.key);
    expect(listed).toEqual(keys);
  });

  it('refuses to overwrite with If-None-Match, keeping the first bytes', async () => {
    await store.put('once.bin', Buffer.from('first'), { ifNoneMatch: true });
    await expect(store.put('once.bin', Buffer.from('second'), { ifNoneMatch: true })).rejects.toBeInstanceOf(AlreadyExistsError);
    expect((await store.get('once.bin'))!.toString()).toBe('first');
  });

  it('refuses a conditional multipart completion over an existing key', async () => {
    await store.put('once-big.bin', Buffer.from('first'));
    const big = randomBytes(6 * 1024 * 1024);
    await expect(store.put('once-big.bin', Readable.from([big]), { ifNoneMatch: true })).rejects.toBeInstanceOf(AlreadyExistsError);
    expect((await store.get('once-big.bin'))!.toString()).toBe('first');
  });

  it('deletes, and deleting a missing key is not an error', async () => {
    await store.put('gone.bin', Buffer.from('x'));
    await store.delete('gone.bin');
    await store.delete('gone.bin');
    expect(await store.head('gone.bin')).toBeUndefined();
  });
});
