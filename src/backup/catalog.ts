import { createHash } from 'node:crypto';
import type { BlobStore } from '../blob/port.js';
import { CIPHER_FRAME_MAGIC } from '../codec/cipher-frame.js';
import { parseJson } from '../domain/json.js';
import type { Projection } from '../domain/reducer.js';
import type { SnapshotRecord, StateStore } from '../store/port.js';

/**
 * The snapshot catalog's part of a backup (issue 14: "the snapshot catalog
 * and bodies (already in S3: reference them, don't copy them twice)"). The
 * bodies stay where the snapshotter put them (`snapshots/...` in the same
 * blob store as the backup); the backup holds the metadata only, one JSON
 * object per agent, `backup/snapshots/<instanceId, URI-encoded>`, rewritten
 * when the agent's snapshots change (taken, expired). After a disaster the
 * state store (`state_snapshots`) is gone and the bodies are not: the
 * restore writes the catalog back, pointing at the bodies.
 */
export const CATALOG_PREFIX = 'backup/snapshots/';
export const catalogKey = (instanceId: string): string => `${CATALOG_PREFIX}${encodeURIComponent(instanceId)}`;
const FORMAT = 'agentstate.backup.snapshots/1';

interface AgentCatalog {
  format: typeof FORMAT;
  instanceId: string;
  /** Newest version first, as the store lists them. */
  snapshots: SnapshotRecord[];
}

const digest = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Archive side: walks the store's agents and rewrites each agent's catalog object that changed. */
export class SnapshotCatalogArchive {
  /** instanceId → SHA-256 of the JSON in the backup. */
  private readonly written = new Map<string, string>();
  private loaded = false;

  constructor(
    private readonly blobs: BlobStore,
    private readonly store: Pick<StateStore, 'listAgents' | 'listSnapshots'>,
  ) {}

  /** Returns the snapshots the catalog names and how many agents' objects were written. */
  async sync(): Promise<{ snapshots: number; written: number }> {
    if (!this.loaded) {
      for await (const b of this.blobs.list(CATALOG_PREFIX)) {
        const bytes = await this.blobs.get(b.key);
        if (bytes) this.written.set(decodeURIComponent(b.key.slice(CATALOG_PREFIX.length)), digest(bytes.toString('utf8')));
      }
      this.loaded = true;
    }
    let snapshots = 0;
    let written = 0;
    for (let after: string | undefined; ;) {
      const page = await this.store.listAgents({ ...(after !== undefined ? { afterId: after } : {}), limit: 1000 });
      for (const instanceId of page) {
        const list = await this.store.listSnapshots(instanceId);
        snapshots += list.length;
        // An agent never snapshotted needs no object; one whose snapshots all expired gets an empty list.
        if (list.length === 0 && !this.written.has(instanceId)) continue;
        const json = JSON.stringify({ format: FORMAT, instanceId, snapshots: list } satisfies AgentCatalog);
        const sha = digest(json);
        if (this.written.get(instanceId) === sha) continue;
        await this.blobs.put(catalogKey(instanceId), Buffer.from(json), { contentType: 'application/json' });
        this.written.set(instanceId, sha);
        written++;
      }
      if (page.length < 1000) break;
      after = page.at(-1);
    }
    return { snapshots, written };
  }
}

/** The backup's snapshot catalog, agent by agent. */
export async function* readSnapshotCatalog(blobs: BlobStore): AsyncGenerator<{ instanceId: string; snapshots: SnapshotRecord[] }> {
  for await (const b of blobs.list(CATALOG_PREFIX)) {
    const bytes = await blobs.get(b.key);
    if (!bytes) continue;
    const doc = parseJson(bytes.toString('utf8'), b.key) as unknown as AgentCatalog;
    if (doc.format === FORMAT) yield { instanceId: doc.instanceId, snapshots: doc.snapshots };
  }
}

/** What {@link restoreSnapshotCatalog} did. */
export interface CatalogRestoreReport {
  /** Snapshot records written into the target store. */
  restored: number;
  /** Of those, bodies the target blob store already held (same store as the backup: referenced, not copied). */
  referenced: number;
  /** Bodies copied from the backup's blob store into the target's (another prefix or data dir). */
  copied: number;
  /** Records the target already had (the restore's own projector took them, or an earlier run). */
  present: number;
  /** Left out: the body is gone or differs from its record (named). */
  missing: string[];
  /** Left out: the agent is crypto-shredded (its snapshots stay unreadable and unlisted). */
  shredded: number;
}

/** A stored body matches its record: plain bodies hash to `bodyChecksum`; encrypted ones have the recorded size (their frame's hash is checked when read). */
function bodyMatches(record: SnapshotRecord, stored: Buffer): boolean {
  if (stored.subarray(0, 4).equals(CIPHER_FRAME_MAGIC)) return stored.length === record.encoding.storedSize;
  return createHash('sha256').update(stored).digest('hex') === record.bodyChecksum;
}

/**
 * Restore side: writes the backup's snapshot records into `target` for the
 * restored agents, each only up to the version the agent was restored to (a
 * point-in-time restore gets no snapshot from its future) and only when its
 * body is readable where the target reads bodies: already there (same blob
 * store, the usual case after a disaster), else copied from the backup's
 * store and checked. Crypto-shredded agents get none. Idempotent.
 */
export async function restoreSnapshotCatalog(options: {
  backup: BlobStore;
  target: Pick<StateStore, 'getSnapshot' | 'putSnapshot'>;
  targetBlobs: BlobStore;
  /** The restored agents and their versions. */
  projections: ReadonlyMap<string, Projection>;
  shredded: ReadonlySet<string>;
}): Promise<CatalogRestoreReport> {
  const report: CatalogRestoreReport = { restored: 0, referenced: 0, copied: 0, present: 0, missing: [], shredded: 0 };
  for await (const agent of readSnapshotCatalog(options.backup)) {
    // Checked first: a shredded agent has no restored head (its events are left out), and is counted here.
    if (options.shredded.has(agent.instanceId)) {
      report.shredded += agent.snapshots.length;
      continue;
    }
    const head = options.projections.get(agent.instanceId);
    if (!head) continue;
    // Oldest first: an incremental snapshot's base is restored before it.
    for (const s of [...agent.snapshots].sort((a, b) => a.version - b.version)) {
      if (s.version > head.version) continue;
      if (await options.target.getSnapshot(s.snapshotId)) {
        report.present++;
        continue;
      }
      const there = await options.targetBlobs.get(s.blobKey);
      if (there && bodyMatches(s, there)) report.referenced++;
      else {
        const body = await options.backup.get(s.blobKey);
        if (!body || !bodyMatches(s, body)) {
          report.missing.push(`${s.snapshotId} (${s.blobKey}: ${body ? 'differs from its record' : 'gone'})`);
          continue;
        }
        await options.targetBlobs.put(s.blobKey, body, { contentType: 'application/octet-stream' });
        report.copied++;
      }
      await options.target.putSnapshot(s);
      report.restored++;
    }
  }
  return report;
}
