import type { BlobStore } from '../blob/port.js';
import { openBlob, sealBlob } from '../codec/blob-frame.js';
import { DecodeError } from '../codec/errors.js';
import { parseJson } from '../domain/json.js';
import type { ManifestHead } from './manifest.js';

/** `backup/events/catalog`: the catalog across the partitions' manifest chains. */
export const EVENTS_CATALOG_KEY = 'backup/events/catalog';
const FORMAT = 'agentstate.backup.events-catalog/1';

/** The head of one partition's manifest chain, as the catalog last recorded it. */
export interface CatalogHead {
  partition: number;
  version: number;
  /** SHA-256 of that manifest version's stored bytes. */
  sha256: string;
  nextOffset: string;
  lastSegmentAt: number | null;
}

export interface EventsCatalog {
  format: typeof FORMAT;
  writtenAt: number;
  heads: CatalogHead[];
}

/**
 * The catalog, or undefined when the backup has none yet.
 * @throws DecodeError / ChecksumMismatchError when it is damaged (verify names it)
 */
export async function readEventsCatalog(blobs: BlobStore): Promise<EventsCatalog | undefined> {
  const bytes = await blobs.get(EVENTS_CATALOG_KEY);
  if (!bytes) return undefined;
  const doc = parseJson((await openBlob(bytes)).toString('utf8'), EVENTS_CATALOG_KEY) as unknown as EventsCatalog;
  if (doc.format !== FORMAT || !Array.isArray(doc.heads)) throw new DecodeError(EVENTS_CATALOG_KEY, `not a ${FORMAT} object`);
  return doc;
}

/**
 * Records the partitions' heads in the catalog (docs/backup.md "The
 * catalog"). Only ever forward: per partition the higher manifest version of
 * the stored catalog and `heads` is kept, so an archiver holding an older
 * head (another process, or a restart) never moves an entry back. The
 * manifests stay the truth; the catalog is what tells a chain that lost its
 * newest versions (or a whole partition) from a shorter one. A damaged
 * catalog is replaced.
 * @returns whether anything was written
 */
export async function recordHeads(blobs: BlobStore, heads: readonly ManifestHead[], now: number): Promise<boolean> {
  const stored = await readEventsCatalog(blobs).catch(() => undefined);
  const merged = new Map((stored?.heads ?? []).map((h) => [h.partition, h]));
  let changed = stored === undefined;
  for (const h of heads) {
    if (h.version === 0 || h.sha256 === null || h.nextOffset === null) continue;
    const old = merged.get(h.partition);
    if (old && old.version >= h.version) continue;
    merged.set(h.partition, { partition: h.partition, version: h.version, sha256: h.sha256, nextOffset: h.nextOffset, lastSegmentAt: h.lastSegmentAt });
    changed = true;
  }
  if (!changed || merged.size === 0) return false;
  const doc: EventsCatalog = { format: FORMAT, writtenAt: now, heads: [...merged.values()].sort((a, b) => a.partition - b.partition) };
  await blobs.put(EVENTS_CATALOG_KEY, await sealBlob(JSON.stringify(doc), { algorithm: 'none' }), { contentType: 'application/octet-stream' });
  return true;
}
