import type { Readable } from 'node:stream';
import type { BlobInfo, BlobPutOptions, BlobStore } from '../blob/port.js';
import { changesetBlobKey, withChangesets, type ChangesetClaimCheck } from '../codec/changeset-blob.js';
import { describeBlob } from '../codec/blob-frame.js';
import type { EventCodec } from '../codec/event-codec.js';
import type { Keyring } from '../codec/keyring.js';
import type { StateEvent } from '../domain/index.js';
import { AlreadyExistsError } from '../errors.js';

/**
 * Claim-checked changesets in a backup (docs/backup.md, Large changesets):
 * the archiver copies each blob a segment's events name to
 * `backup/<blobKey>` before it writes the manifest that makes the segment
 * part of the backup, so a backup never names a changeset it lacks. Verify
 * and restore read them from there through the one reading of the log, and a
 * restore copies them back to `<blobKey>` in the target's blob store before
 * it appends the events that name them (blob first, then the record).
 */
export const BACKUP_CHANGESETS_PREFIX = 'backup/';

/** `store` seen with `prefix` before every key (reads and writes; `list` strips it again). */
export function prefixedBlobs(store: BlobStore, prefix: string): BlobStore {
  return {
    setup: () => store.setup(),
    put: (key: string, body: Uint8Array | Readable, options?: BlobPutOptions) => store.put(prefix + key, body, options),
    get: (key: string) => store.get(prefix + key),
    getStream: (key: string) => store.getStream(prefix + key),
    head: (key: string) => store.head(prefix + key),
    async *list(p: string): AsyncIterable<BlobInfo> {
      for await (const info of store.list(prefix + p)) yield { ...info, key: info.key.slice(prefix.length) };
    },
    delete: (key: string) => store.delete(prefix + key),
    close: () => Promise.resolve(),
  };
}

/** A reader of the backup's records: `codec`, resolving changesets from the backup's copies (encrypted ones with `keyring`). */
export function backupReader(codec: EventCodec, backup: BlobStore, keyring?: Keyring): ChangesetClaimCheck {
  return withChangesets(codec, prefixedBlobs(backup, BACKUP_CHANGESETS_PREFIX), {}, keyring);
}

/**
 * The backup's copy of a changeset is encrypted under its agent's data key
 * when the backup encrypts record values (never cleartext where the records
 * are not), the blob key as associated data.
 */
export function sealForBackup(keyring: Keyring | undefined): ((event: StateEvent, body: Buffer) => Promise<Buffer>) | undefined {
  return keyring ? (event, body) => keyring.encrypt(event.instanceId, body, Buffer.from(event.changesetRef!.blobKey)) : undefined;
}

/** Inverse of {@link sealForBackup}, for a restore: the target holds the plain frame, like the records it gets. */
export function openFromBackup(keyring: Keyring | undefined): (event: StateEvent, body: Buffer) => Promise<Buffer> {
  return async (event, body) => (keyring && describeBlob(body).encrypted ? keyring.decrypt(body, Buffer.from(event.changesetRef!.blobKey)) : body);
}

/**
 * Copies the changeset blobs that `records` name from `from` to `to` (each
 * key as is; pass `prefixedBlobs` views to move between the deployment's
 * keys and the backup's). Idempotent: a blob `to` already has is left alone
 * (content-addressed keys). A record that does not decode, names a key that
 * is not its agent's and SHA-256's, or whose blob `from` lacks is not copied:
 * every reader reports it as the bad record it is.
 * @returns how many blobs were copied and how many were missing at `from`
 */
export async function copyChangesets(
  records: Iterable<{ key: string; value: Buffer | null }>,
  codec: EventCodec,
  from: BlobStore,
  to: BlobStore,
  transform?: (event: StateEvent, body: Buffer) => Promise<Buffer>,
): Promise<{ copied: number; missing: number }> {
  let copied = 0;
  let missing = 0;
  const seen = new Set<string>();
  for (const r of records) {
    if (r.value === null) continue;
    const event = await codec.decode(r.value).catch(() => undefined);
    const ref = event?.changesetRef;
    if (!event || !ref || event.instanceId !== r.key || ref.blobKey !== changesetBlobKey(event.instanceId, ref.sha256) || seen.has(ref.blobKey)) continue;
    seen.add(ref.blobKey);
    if (await to.head(ref.blobKey)) continue;
    const body = await from.get(ref.blobKey);
    if (body === undefined) {
      missing++;
      continue;
    }
    try {
      await to.put(ref.blobKey, transform ? await transform(event, body) : body, { ifNoneMatch: true });
      copied++;
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
    }
  }
  return { copied, missing };
}
