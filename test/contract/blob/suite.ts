import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlobStore } from '../../../src/blob/port.js';
import { AlreadyExistsError } from '../../../src/errors.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

async function keys(store: BlobStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const info of store.list(prefix)) out.push(info.key);
  return out;
}

/**
 * The BlobStore conformance suite (STYLE.md habit 2), run against the file
 * system and S3 adapters. `make` returns a store that is empty (its own
 * directory or key prefix); every test uses its own key prefix too.
 */
export function blobStoreContract(name: string, make: () => Promise<BlobStore>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let store: BlobStore;
    let n = 0;
    const ns = () => `t${++n}/`;

    beforeAll(async () => {
      store = await make();
      await store.setup();
      await store.setup(); // idempotent
    });
    afterAll(async () => {
      await store.close();
      await store.close(); // safe twice
    });

    it('refuses keys that could climb out of the prefix, on every adapter', async () => {
      const p = ns();
      for (const bad of [`${p}../x`, `${p}./x`, `${p}a//b`, '../x', `${p}a\\b`, `${p}${'x'.repeat(256)}`, '']) {
        await expect(store.put(bad, Buffer.from('x')), bad).rejects.toMatchObject({ code: 'AS_INVALID_INPUT' });
        await expect(store.get(bad), bad).rejects.toMatchObject({ code: 'AS_INVALID_INPUT' });
      }
      expect(await keys(store, p)).toEqual([]);
    });

    it('puts and gets bytes exactly, including an empty object and a unicode key', async () => {
      const p = ns();
      const body = randomBytes(100_000);
      const info = await store.put(`${p}snap.bin`, body);
      expect(info.key).toBe(`${p}snap.bin`);
      expect(info.size).toBe(body.length);
      expect(sha((await store.get(`${p}snap.bin`))!)).toBe(sha(body));
      await store.put(`${p}empty`, new Uint8Array(0));
      expect((await store.get(`${p}empty`))!.length).toBe(0);
      await store.put(`${p}ünï/çødé ✓.json`, Buffer.from('{"a":1}'));
      expect((await store.get(`${p}ünï/çødé ✓.json`))!.toString()).toBe('{"a":1}');
    });

    it('answers undefined for missing objects', async () => {
      const p = ns();
      expect(await store.get(`${p}missing`)).toBeUndefined();
      expect(await store.getStream(`${p}missing`)).toBeUndefined();
      expect(await store.head(`${p}missing`)).toBeUndefined();
    });

    it('reports size in head, consistent with put', async () => {
      const p = ns();
      const put = await store.put(`${p}h`, Buffer.from('12345'));
      const head = await store.head(`${p}h`);
      expect(head?.key).toBe(`${p}h`);
      expect(head?.size).toBe(5);
      // An adapter that reports an etag on head reports the one put returned.
      if (head?.etag !== undefined) expect(head.etag).toBe(put.etag);
    });

    it('replaces an object on a plain put', async () => {
      const p = ns();
      await store.put(`${p}o`, Buffer.from('first'));
      await store.put(`${p}o`, Buffer.from('second, longer'));
      expect((await store.get(`${p}o`))!.toString()).toBe('second, longer');
      expect((await store.head(`${p}o`))!.size).toBe(14);
    });

    it('refuses to overwrite with ifNoneMatch and keeps the first bytes', async () => {
      const p = ns();
      await store.put(`${p}once`, Buffer.from('first'), { ifNoneMatch: true });
      await expect(store.put(`${p}once`, Buffer.from('second'), { ifNoneMatch: true })).rejects.toBeInstanceOf(AlreadyExistsError);
      expect((await store.get(`${p}once`))!.toString()).toBe('first');
    });

    it('lets exactly one of several racing ifNoneMatch creators win', async () => {
      const p = ns();
      const bodies = Array.from({ length: 6 }, (_, i) => Buffer.from(`writer-${i}-${randomBytes(8).toString('hex')}`));
      const results = await Promise.allSettled(bodies.map((b) => store.put(`${p}race`, b, { ifNoneMatch: true })));
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(AlreadyExistsError);
      expect((await store.get(`${p}race`))!.equals(bodies[won[0]!]!)).toBe(true);
    });

    it('uploads a stream of unknown length and reads it back as a stream', async () => {
      const p = ns();
      // Over 5 MiB, so S3 goes multipart with 5 MiB parts.
      const chunks = Array.from({ length: 90 }, () => randomBytes(64 * 1024 + 13));
      const expected = Buffer.concat(chunks);
      const info = await store.put(`${p}streamed`, Readable.from(chunks));
      expect(info.size).toBe(expected.length);
      const stream = await store.getStream(`${p}streamed`);
      expect(sha(await drain(stream!))).toBe(sha(expected));
      expect((await store.head(`${p}streamed`))!.size).toBe(expected.length);
    });

    it('lists objects under a prefix in key order, nested or not, with sizes', async () => {
      const p = ns();
      const names = ['b', 'a/x', 'a-b', 'a/y/z', 'c/d/e', 'ab'];
      for (const k of names) await store.put(`${p}${k}`, Buffer.from(k));
      await store.put(`${ns()}a/x`, Buffer.from('elsewhere'));
      expect(await keys(store, p)).toEqual(['a-b', 'a/x', 'a/y/z', 'ab', 'b', 'c/d/e'].map((k) => p + k));
      expect(await keys(store, `${p}a`)).toEqual(['a-b', 'a/x', 'a/y/z', 'ab'].map((k) => p + k));
      expect(await keys(store, `${p}a/`)).toEqual(['a/x', 'a/y/z'].map((k) => p + k));
      expect(await keys(store, `${p}c/d/e`)).toEqual([`${p}c/d/e`]);
      expect(await keys(store, `${p}nothing/`)).toEqual([]);
      for await (const info of store.list(`${p}a/y`)) expect(info.size).toBe(Buffer.byteLength('a/y/z'));
    });

    it('deletes; deleting a missing key is not an error; deleted keys leave the listing', async () => {
      const p = ns();
      await store.put(`${p}dir/gone`, Buffer.from('x'));
      await store.put(`${p}kept`, Buffer.from('y'));
      await store.delete(`${p}dir/gone`);
      await store.delete(`${p}dir/gone`);
      expect(await store.get(`${p}dir/gone`)).toBeUndefined();
      expect(await store.head(`${p}dir/gone`)).toBeUndefined();
      expect(await keys(store, p)).toEqual([`${p}kept`]);
    });
  });
}
