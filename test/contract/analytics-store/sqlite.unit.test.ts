import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteAnalyticsStore } from '../../../src/store/sqlite/analytics.js';
import { analyticsStoreContract } from './suite.js';

// A file on disk (WAL, synchronous=FULL), as the embedded profile runs it.
analyticsStoreContract('SqliteAnalyticsStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentstate-analytics-store-'));
  return { store: new SqliteAnalyticsStore({ path: join(dir, 'analytics.sqlite') }), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});
