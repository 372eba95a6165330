import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { AgentStateClient, JsonEventCodec } from '../../../src/client/index.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicSpecs } from '../../../src/log/topics.js';
import { Projector } from '../../../src/projector/index.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-odd-ids-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Ids that are legal agent names but dangerous as path segments (issue 12 §4). */
const ODD = ['..', '.', 'a\\b', '.hidden', 'x'.repeat(256), 'ünï cødé: ~1'];

describe('agents whose ids are not safe file names', () => {
  it('get their policy snapshots and claim-checked states, all inside the blob directory', async () => {
    const prefix = 'odd.';
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite') });
    await log.setup(topicSpecs({ prefix, partitions: 2 }));
    const store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
    await store.setup();
    const blobDir = join(dir, 'blobs');
    const blobs = new FsBlobStore({ dir: blobDir });
    const codec = new JsonEventCodec();
    const writer = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, bootstrap: false });
    try {
      for (const id of ODD) {
        await writer.createAgent(id, { agentType: 'odd' });
        // 600 KB of memory (200 KB an update) passes the claim-check size (512 KiB): the state goes to the blob store too.
        for (let n = 0; n < 3; n++) await writer.updateState(id, (d) => void (d.memory[`b${n}`] = `${n}`.repeat(200_000)));
      }
    } finally {
      await writer.close();
    }
    const projector = new Projector({ log, codec, store, blobs, topicPrefix: prefix, snapshots: { everyEvents: 2, everyBytes: 0 }, sweepIntervalMs: 0, retryWindowMs: 2000 });
    await projector.runUntilCaughtUp(undefined, 50);
    for (const id of ODD) {
      const snaps = await store.listSnapshots(id);
      expect(
        snaps.map((s) => s.version),
        id,
      ).toEqual([4, 2]);
      for (const s of snaps) {
        expect(s.blobKey.startsWith('snapshots/'), s.blobKey).toBe(true);
        expect(s.blobKey.split('/')).toHaveLength(3);
      }
      expect((await store.getState(id))?.version, id).toBe(4);
    }
    // Nothing was written beside the two top-level folders.
    expect(readdirSync(blobDir).sort()).toEqual(['snapshots', 'states']);
    expect(readdirSync(join(dir))).not.toContain('hidden');
    await blobs.close();
    await store.close();
    await log.close();
  });
});
