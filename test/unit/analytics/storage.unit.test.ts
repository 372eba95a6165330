import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { analytics } from '../../../src/cli/commands/analytics.js';
import { SqliteAnalyticsStore } from '../../../src/store/sqlite/analytics.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { agentStorageScenario } from '../../support/agent-storage.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-storage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('analyzeStorageUtilization per agent (embedded: SQLite store, file-system blobs)', () => {
  it('reports each agent its own store, snapshot, claim-check and backup bytes, and `agentstate analytics` shows them', async () => {
    const store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
    await store.setup();
    const blobs = new FsBlobStore({ dir: join(dir, 'blobs') });
    await blobs.setup();
    const analyticsStore = new SqliteAnalyticsStore({ path: join(dir, 'analytics.sqlite') });
    await analyticsStore.setup();
    let closed = false;
    await agentStorageScenario({ store, blobs, analyticsStore }, async (args) => {
      // The CLI opens the data dir's files itself: close ours first (SQLite, one writer).
      if (!closed) await Promise.all([store.close(), blobs.close(), analyticsStore.close()]);
      closed = true;
      const lines: string[] = [];
      const code = await analytics([...args, '--backend', 'embedded', '--data-dir', dir], (s) => lines.push(s));
      return { code, text: lines.join('\n') };
    });
  });
});
