import { BSON } from 'mongodb';
import { expect } from 'vitest';
import { StateAnalyticsService, type AnalyticsStore } from '../../src/analytics/index.js';
import { emptyWindow } from '../../src/analytics/window.js';
import { appendManifest, manifestKey, segmentKey, type SegmentEntry } from '../../src/backup/manifest.js';
import type { BlobStore } from '../../src/blob/port.js';
import type { SnapshotRecord, StateStore, StoredEvent } from '../../src/store/port.js';
import { eventRow, stateRow } from '../contract/store/suite.js';

const HOUR = 3_600_000;

export function snapshotRow(instanceId: string, version: number): SnapshotRecord {
  return {
    snapshotId: `${instanceId}:${version}:full`,
    instanceId,
    version,
    epoch: 1,
    type: 'full',
    baseSnapshotId: null,
    stateChecksum: `sum-${version}`,
    bodyChecksum: `body-${version}`,
    blobKey: `snapshots/${instanceId}/${version}`,
    encoding: { algorithm: 'none', originalSize: 10, storedSize: 10 },
    trigger: 'manual',
    creationMs: 3,
    createdBy: 'storage-test',
    stateTimestamp: 1_700_000_000_000 + version * 1000,
    createdAt: 1_700_000_100_000,
    expiresAt: null,
    permanent: false,
    critical: false,
  };
}

/** What a store row weighs as a BSON document, by serializing it (not by the code under test's size function). */
export const bsonBytes = (doc: object): number => BSON.serialize(doc as BSON.Document).length;

/**
 * The per-agent storage scenario (docs/analytics.md, Storage), the same on
 * every profile: three agents' rows, events, snapshots, a claim-check blob,
 * backup segments and a damaged manifest, and analytics windows; then
 * `analyzeStorageUtilization` must report each agent exactly its own bytes.
 * `cli` runs `agentstate analytics <args>` against the same stores (its
 * backend flags added by the caller) and returns its exit code and output.
 */
export async function agentStorageScenario(s: { store: StateStore; blobs: BlobStore; analyticsStore: AnalyticsStore }, cli: (args: string[]) => Promise<{ code: number; text: string }>): Promise<void> {
  const { store, blobs, analyticsStore } = s;
  // a: inline state, 1001 mirrored events (two pages of the event read), 2 snapshots.
  // b: claim-check state, 3 events, 1 snapshot. c: nothing anywhere.
  const stateA = stateRow('a', 1001);
  const stateB = stateRow('b', 3, { body: null, blobKey: 'states/b/3' });
  const eventsA: StoredEvent[] = Array.from({ length: 1001 }, (_, i) => eventRow('a', i + 1));
  const eventsB: StoredEvent[] = Array.from({ length: 3 }, (_, i) => eventRow('b', i + 1));
  await store.writeBatch({ states: [stateA, stateB], events: [...eventsA, ...eventsB] });
  const bodyB = Buffer.alloc(5000, 7);
  await blobs.put('states/b/3', bodyB);
  const snapsA = [snapshotRow('a', 10), snapshotRow('a', 20)];
  const snapsB = [snapshotRow('b', 2)];
  const snapBodies = new Map([
    ['snapshots/a/10', Buffer.alloc(1234, 1)],
    ['snapshots/a/20', Buffer.alloc(4321, 2)],
    ['snapshots/b/2', Buffer.alloc(777, 3)],
  ]);
  for (const s of [...snapsA, ...snapsB]) {
    await store.putSnapshot(s);
    await blobs.put(s.blobKey, snapBodies.get(s.blobKey)!);
  }

  // Backup: partition 0 has two segments (a alone; a and b), partition 1 one segment (b), then a damaged manifest version.
  const segment = async (partition: number, first: number, last: number, agents: Record<string, number>, bytes: number): Promise<SegmentEntry> => {
    const key = segmentKey(partition, String(first), String(last));
    await blobs.put(key, Buffer.alloc(bytes, 9));
    const records = last - first + 1;
    return {
      key,
      firstOffset: String(first),
      lastOffset: String(last),
      records,
      minTimestamp: 1,
      maxTimestamp: 2,
      storedBytes: bytes,
      sha256: 'x',
      bodySha256: 'y',
      compression: 'none',
      encrypted: false,
      agents: Object.fromEntries(Object.entries(agents).map(([id, events]) => [id, { firstVersion: 1, lastVersion: events, events }])),
      otherRecords: records - Object.values(agents).reduce((t, n) => t + n, 0),
    };
  };
  const segs = [
    { partition: 0, seg: await segment(0, 0, 9, { a: 10 }, 900) },
    { partition: 0, seg: await segment(0, 10, 39, { a: 20, b: 7 }, 3001) },
    { partition: 1, seg: await segment(1, 0, 3, { b: 3 }, 500) },
  ];
  const heads = new Map<number, Parameters<typeof appendManifest>[1]>();
  for (const { partition, seg } of segs) {
    const head = heads.get(partition) ?? { partition, version: 0, sha256: null, nextOffset: null, lastSegmentAt: null };
    heads.set(partition, (await appendManifest(blobs, head, { topic: 't.events', partitions: 2, segment: seg, now: 1 }))!);
  }
  await blobs.put(manifestKey(1, 2), Buffer.from('not a manifest'));

  // Analytics windows: a has changeset bytes in two hourly windows, b in one.
  // Their records on the log (logBytes) are the changesets plus keys, headers and the rest of the record.
  const w = (id: string, at: number, bytes: number): ReturnType<typeof emptyWindow> => ({ ...emptyWindow(id, 'worker', '1h', HOUR, at, 0, 0), changesetBytes: bytes, logBytes: bytes * 3 + 1, events: 1 });
  await analyticsStore.writeBatch({
    windows: [w('a', 0, 111), w('a', HOUR, 222), w('b', 0, 50)],
    anomalies: [],
    agents: [],
    partition: { _id: '0', partition: 0, nextOffset: '40', watermark: 0, tick: 0 },
  });

  const service = new StateAnalyticsService(analyticsStore, { window: '1h', storage: { store, blobs } });
  const result = await service.analyzeStorageUtilization(['a', 'b', 'c']);
  const [a, b, c] = result.perAgent;

  expect(a).toMatchObject({
    instanceId: 'a',
    blobsMeasured: true,
    logChangesetBytes: 333,
    logBytes: 333 * 3 + 2,
    storeRecords: { states: 1, events: 1001, snapshots: 2 },
    storeBytesEstimated: bsonBytes(stateA) + eventsA.reduce((t, e) => t + bsonBytes(e), 0) + snapsA.reduce((t, s) => t + bsonBytes(s), 0),
    snapshots: 2,
    snapshotBlobBytes: 1234 + 4321,
    snapshotBlobsMissing: 0,
    stateBlobBytes: 0,
    backupSegments: 2,
    backupSegmentBytes: 900 + 3001,
    backupBytesApportioned: Math.round(900 + (3001 * 20) / 30),
    backupManifestsUnreadable: 1,
  });
  expect(b).toMatchObject({
    logChangesetBytes: 50,
    logBytes: 151,
    storeRecords: { states: 1, events: 3, snapshots: 1 },
    storeBytesEstimated: bsonBytes(stateB) + eventsB.reduce((t, e) => t + bsonBytes(e), 0) + bsonBytes(snapsB[0]!),
    snapshotBlobBytes: 777,
    stateBlobBytes: 5000,
    backupSegments: 2,
    backupSegmentBytes: 3001 + 500,
    backupBytesApportioned: Math.round((3001 * 7) / 30 + (500 * 3) / 4), // the 4th record of that segment is not an event of b
  });
  expect(c).toMatchObject({ storeBytesEstimated: 0, storeRecords: { states: 0, events: 0, snapshots: 0 }, snapshotBlobBytes: 0, backupBytesApportioned: 0, logChangesetBytes: 0, logBytes: 0, stateBytesEstimated: null });

  // A snapshot whose blob is gone is named, not counted.
  await blobs.delete('snapshots/a/20');
  const again = (await service.analyzeStorageUtilization(['a'])).perAgent[0]!;
  expect(again).toMatchObject({ snapshotBlobBytes: 1234, snapshotBlobsMissing: 1 });

  // The CLI reads the same figures from the same stores.
  const json = await cli(['b', '--json']);
  expect(json.code).toBe(0);
  expect((JSON.parse(json.text) as { storage: Record<string, unknown> }).storage).toMatchObject({
    instanceId: 'b',
    stateBlobBytes: 5000,
    snapshotBlobBytes: 777,
    backupSegmentBytes: 3501,
    logChangesetBytes: 50,
    logBytes: 151,
  });
  const text = await cli(['b']);
  expect(text.code).toBe(0);
  expect(text.text).toMatch(/log\s+151\s+its events records on the log/);
  expect(text.text).toMatch(/backup \(est\.\)\s+\d+\s+its share of 2 segment\(s\) of 3501 bytes/);
}
