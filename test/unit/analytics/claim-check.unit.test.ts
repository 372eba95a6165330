import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PartitionFold, bodyReader, readFact, resolveSettings, type EventFact } from '../../../src/analytics/index.js';
import { parseFact } from '../../../src/analytics/fact.js';
import { openAgentState } from '../../../src/index.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicNames } from '../../../src/log/topics.js';
import type { StoredRecord } from '../../../src/log/port.js';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { JsonEventCodec } from '../../../src/client/index.js';
import { withChangesets } from '../../../src/codec/index.js';

const root = mkdtempSync(join(tmpdir(), 'agentstate-analytics-claim-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Writes the same steps to agent `cc` in a fresh data dir; returns its event records in log order. */
async function write(dir: string, claimCheckBytes: number | undefined): Promise<StoredRecord[]> {
  const as = await openAgentState({ env: false, dataDir: dir, accessReportMs: 0, ...(claimCheckBytes ? { client: { changesets: { claimCheckBytes } } } : {}) });
  try {
    await as.client.createAgent('cc', { agentType: 'worker' });
    await as.client.memoryUpdated('cc', { notes: 'n'.repeat(6_000), list: Array.from({ length: 50 }, (_, i) => `item ${i}`) });
    await as.client.memoryUpdated('cc', { small: 1 });
    await as.client.memoryUpdated('cc', { notes: 'shorter '.repeat(300) });
  } finally {
    await as.close();
  }
  const log = new SqliteEventLog({ path: join(dir, 'log.sqlite'), readOnly: true });
  const topic = topicNames('agentstate.').events;
  const out: StoredRecord[] = [];
  for (const [p, end] of Object.entries(await log.endOffsets(topic))) out.push(...(await log.read(topic, Number(p), '0', end)));
  await log.close();
  return out;
}

describe('analytics of claim-checked changesets (issue 16)', () => {
  it("fetches and verifies them, and counts the figures of the same changesets inline (the writer's stateSizeDelta header agrees)", async () => {
    const claimed = await write(join(root, 'claimed'), 1024);
    const inline = await write(join(root, 'inline'), undefined);
    const read = bodyReader();
    // The data dir's blob store, as the service and agentstate start pass it.
    const blobs = new FsBlobStore({ dir: join(root, 'claimed', 'blobs') });
    const changesets = withChangesets(new JsonEventCodec(), blobs);
    // Without one, a claim-checked record cannot be read (as in every reader of the log).
    await expect(readFact(claimed[1]!, read)).rejects.toMatchObject({ code: 'AS_CONFIG' });
    const facts = async (records: StoredRecord[]): Promise<EventFact[]> =>
      Promise.all(
        records.map(async (r) => {
          const reading = await readFact(r, read, changesets);
          if (reading.kind !== 'fact') throw new Error(`skipped: ${reading.reason}`);
          expect(await parseFact(r, read, changesets)).toEqual(reading); // the scan and the parse agree
          return reading.fact;
        }),
      );
    const [a, b] = [await facts(claimed), await facts(inline)];
    expect(a.map((f) => f.version)).toEqual([1, 2, 3, 4]);
    // Versions 2 and 4 were claim-checked: a reference on the log, the size in a header.
    const refs = claimed.map((r) => (JSON.parse(r.value!.toString()) as { changesetRef?: { bytes: number } }).changesetRef);
    expect(refs.map((r) => r !== undefined)).toEqual([false, true, false, true]);
    expect(claimed.map((r) => r.headers.stateSizeDelta !== undefined)).toEqual([false, true, false, true]);
    expect(inline.every((r) => r.headers.stateSizeDelta === undefined)).toBe(true);
    for (const i of [1, 3]) {
      expect(a[i]!.changesetBytes).toBe(b[i]!.changesetBytes);
      expect(a[i]!.changesetBytes).toBeGreaterThan(1024);
      expect(a[i]!.changes).toBe(b[i]!.changes);
      expect(a[i]!.sizeDelta).toBe(b[i]!.sizeDelta);
      expect(Number(claimed[i]!.headers.stateSizeDelta)).toBe(b[i]!.sizeDelta);
    }
    expect(a[1]!.sizeDelta).toBeGreaterThan(6_000);
    expect(a[3]!.sizeDelta).toBeLessThan(0); // the notes got shorter
    expect(a.map((f) => f.sizeDelta)).toEqual(b.map((f) => f.sizeDelta));

    // Per window: the same state size as with the changesets inline.
    const sizes = (records: StoredRecord[], fs: EventFact[]) => {
      const fold = new PartitionFold(0, resolveSettings({ windows: { '1h': 3_600_000 } }));
      fs.forEach((f, i) => fold.add(records[i]!.key, records[i]!.offset, { kind: 'fact', fact: f }));
      return fold.drain().windows.map((w) => [w.sizeStart, w.sizeEnd, w.sizeMax]);
    };
    expect(sizes(claimed, a)).toEqual(sizes(inline, b));
    expect(sizes(claimed, a)[0]![2]).toBeGreaterThan(6_000); // sizeMax: before the notes got shorter
  });
});
