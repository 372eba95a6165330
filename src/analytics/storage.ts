import { BSON } from 'mongodb';
import type { BlobStore } from '../blob/port.js';
import { listBackupPartitions, listManifestVersions, openManifest } from '../backup/manifest.js';
import type { StateStore } from '../store/port.js';

/**
 * One agent's bytes outside the log (issue 16 `analyzeStorageUtilization`).
 * Exact figures are sizes the blob store reports; the names ending in
 * `Estimated` / `Apportioned` are computed, and say how (docs/analytics.md).
 */
export interface AgentStorage {
  instanceId: string;
  /**
   * BSON size of the agent's store records as read through the store port:
   * its `agent_states` row, its `state_events` mirror rows and its
   * `state_snapshots` records. An estimate of the documents' size (the same
   * measure on MongoDB/FerretDB and SQLite); indexes, padding and the
   * database's own compression are not counted.
   */
  storeBytesEstimated: number;
  storeRecords: { states: number; events: number; snapshots: number };
  /** False when no blob store was given: the blob and backup figures below are 0 because nothing was measured. */
  blobsMeasured: boolean;
  /** Stored bytes of the agent's snapshot blobs (blob store `head` sizes: exact). */
  snapshotBlobBytes: number;
  snapshots: number;
  /** Snapshot records whose blob is missing from the blob store. */
  snapshotBlobsMissing: number;
  /** Stored bytes of the current state's claim-check blob (0 when the state is inline). */
  stateBlobBytes: number;
  /**
   * Backup segments hold many agents: each segment's stored bytes are shared
   * out by the agent's share of the segment's records (manifest `agents[id].events`
   * over `records`). An estimate; `backupSegmentBytes` is the exact size of the
   * segments that hold any of the agent's events.
   */
  backupBytesApportioned: number;
  backupSegmentBytes: number;
  backupSegments: number;
  /** Manifest versions that could not be read (damaged): their segments are not counted. */
  backupManifestsUnreadable: number;
}

const EVENT_PAGE = 1000;

/** Sizes one agent's records in the state store and its blobs (snapshots, claim check, backup). Reads one agent at a time: no aggregation operator is needed, so it works on FerretDB 1.24. */
export async function agentStorage(instanceId: string, sources: { store: StateStore; blobs?: BlobStore }): Promise<AgentStorage> {
  const { store, blobs } = sources;
  const out: AgentStorage = {
    instanceId,
    storeBytesEstimated: 0,
    storeRecords: { states: 0, events: 0, snapshots: 0 },
    blobsMeasured: blobs !== undefined,
    snapshotBlobBytes: 0,
    snapshots: 0,
    snapshotBlobsMissing: 0,
    stateBlobBytes: 0,
    backupBytesApportioned: 0,
    backupSegmentBytes: 0,
    backupSegments: 0,
    backupManifestsUnreadable: 0,
  };
  const state = await store.getState(instanceId);
  if (state) {
    out.storeRecords.states = 1;
    out.storeBytesEstimated += BSON.calculateObjectSize(state);
    if (state.blobKey && blobs) out.stateBlobBytes = (await blobs.head(state.blobKey))?.size ?? 0;
  }
  for (let from = 0; ;) {
    const page = await store.queryEvents({ instanceId, fromVersion: from, order: 'asc', limit: EVENT_PAGE });
    for (const e of page) out.storeBytesEstimated += BSON.calculateObjectSize(e);
    out.storeRecords.events += page.length;
    if (page.length < EVENT_PAGE) break;
    from = page.at(-1)!.version + 1;
  }
  const snapshots = await store.listSnapshots(instanceId);
  out.storeRecords.snapshots = snapshots.length;
  out.snapshots = snapshots.length;
  for (const s of snapshots) {
    out.storeBytesEstimated += BSON.calculateObjectSize(s);
    if (!blobs) continue;
    const info = await blobs.head(s.blobKey);
    if (info) out.snapshotBlobBytes += info.size;
    else out.snapshotBlobsMissing++;
  }
  if (blobs) {
    for (const partition of await listBackupPartitions(blobs)) {
      for (const { key } of await listManifestVersions(blobs, partition)) {
        const bytes = await blobs.get(key);
        let segment;
        try {
          if (!bytes) throw new Error('gone');
          segment = (await openManifest(bytes, key)).segment;
        } catch {
          out.backupManifestsUnreadable++;
          continue;
        }
        const mine = segment.agents[instanceId];
        if (!mine) continue;
        out.backupSegments++;
        out.backupSegmentBytes += segment.storedBytes;
        out.backupBytesApportioned += segment.records > 0 ? (segment.storedBytes * mine.events) / segment.records : 0;
      }
    }
    out.backupBytesApportioned = Math.round(out.backupBytesApportioned);
  }
  return out;
}
