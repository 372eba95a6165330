import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { S3BlobStore } from '../../../src/blob/s3.js';
import { JsonEventCodec } from '../../../src/client/index.js';
import { ChangesetClaimCheck, changesetBlobKey } from '../../../src/codec/index.js';
import { canonicalJson, readEventRecord, type StateEvent } from '../../../src/domain/index.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-changeset-blob-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const event = (instanceId: string, value: string): StateEvent =>
  ({
    eventId: `e-${instanceId}`,
    instanceId,
    version: 2,
    writerEpoch: 1,
    timestamp: 1,
    eventType: 'memory_updated',
    source: 't',
    causationId: null,
    correlationId: null,
    changeset: [{ path: '/memory/v', op: 'create', newValue: value }],
    metadata: {},
    stateChecksum: 'c',
    replay: null,
    replayable: true,
  }) as unknown as StateEvent;

/** The claim check of changesets (issue 12 §6): what it writes, and how a reader decides on what it finds. */
describe('ChangesetClaimCheck', () => {
  it('keeps small changesets inline; writes large ones content-addressed before the event, idempotently; resolves them back', async () => {
    const blobs = new FsBlobStore({ dir: join(dir, 'a') });
    const codec = new ChangesetClaimCheck(new JsonEventCodec(), blobs, { claimCheckBytes: 1024 });
    const small = await codec.encode(event('a-1', 'x'));
    expect((JSON.parse(small.toString()) as StateEvent).changesetRef).toBeUndefined();
    const big = event('a-1', 'y'.repeat(5000));
    const first = await codec.encode(big);
    const again = await codec.encode(big); // a retry: same key, same bytes, no error
    expect(again.equals(first)).toBe(true);
    const wire = JSON.parse(first.toString()) as StateEvent;
    const json = canonicalJson(big.changeset as never);
    const sha = createHash('sha256').update(json).digest('hex');
    expect(wire).toMatchObject({ changeset: [], changesetRef: { blobKey: changesetBlobKey('a-1', sha), sha256: sha, bytes: json.length, changes: 1 } });
    expect(readdirSync(join(dir, 'a', 'changesets', 'a-1'))).toEqual([sha]);
    const reading = await readEventRecord({ key: 'a-1', value: first }, codec);
    expect(reading).toMatchObject({ kind: 'event', event: { changeset: big.changeset, changesetRef: { sha256: sha } } });
  });

  it('a gone blob is changeset_missing; another body, a corrupt frame or another agent’s key is changeset_mismatch; no blob store is AS_CONFIG', async () => {
    const blobs = new FsBlobStore({ dir: join(dir, 'b') });
    const codec = new ChangesetClaimCheck(new JsonEventCodec(), blobs, { claimCheckBytes: 1024 });
    const value = await codec.encode(event('b-1', 'z'.repeat(5000)));
    const ref = (JSON.parse(value.toString()) as StateEvent).changesetRef!;
    const path = join(dir, 'b', ref.blobKey);

    writeFileSync(path, 'not a frame');
    expect(await readEventRecord({ key: 'b-1', value }, codec)).toMatchObject({ kind: 'rejected', reason: 'changeset_mismatch' });
    // A valid frame of another changeset under this key.
    await codec.encode(event('b-1', 'w'.repeat(5000)));
    const other = readdirSync(join(dir, 'b', 'changesets', 'b-1')).find((f) => f !== ref.sha256)!;
    rmSync(path);
    writeFileSync(path, readFileSync(join(dir, 'b', 'changesets', 'b-1', other)));
    expect(await readEventRecord({ key: 'b-1', value }, codec)).toMatchObject({ kind: 'rejected', reason: 'changeset_mismatch', detail: expect.stringMatching(/checksum mismatch/) as unknown });
    rmSync(path);
    expect(await readEventRecord({ key: 'b-1', value }, codec)).toMatchObject({ kind: 'rejected', reason: 'changeset_missing' });

    // An event of agent c-1 pointing at b-1's blob: refused before any fetch.
    const borrowed = Buffer.from(canonicalJson({ ...event('c-1', ''), changeset: [], changesetRef: { ...ref } } as never));
    expect(await readEventRecord({ key: 'c-1', value: borrowed }, codec)).toMatchObject({ kind: 'rejected', reason: 'changeset_mismatch', detail: expect.stringMatching(/is not changesets\/c-1\//) as unknown });

    await expect(readEventRecord({ key: 'b-1', value }, new JsonEventCodec())).rejects.toMatchObject({ code: 'AS_CONFIG' });
  });

  it('a blob store that does not answer is not a bad record: the reading throws (to be retried) instead of rejecting', async () => {
    const writer = new ChangesetClaimCheck(new JsonEventCodec(), new FsBlobStore({ dir: join(dir, 'c') }), { claimCheckBytes: 1024 });
    const value = await writer.encode(event('d-1', 'q'.repeat(5000)));
    // Nothing listens on port 9 of this host: every request is refused.
    const down = new S3BlobStore({ endpoint: 'http://127.0.0.1:9', bucket: 'none', accessKeyId: 'k', secretAccessKey: 's', createBucket: false });
    const reader = new ChangesetClaimCheck(new JsonEventCodec(), down);
    await expect(readEventRecord({ key: 'd-1', value }, reader)).rejects.toMatchObject({ code: 'AS_UNAVAILABLE', retryable: true });
    await down.close();
  });
});
