import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { storeContract } from './suite.js';

// A fresh temporary file per run, removed by the suite's cleanup: the real
// on-disk configuration (WAL, synchronous=FULL), not ':memory:'.
storeContract(
  'SqliteStateStore',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentstate-store-contract-'));
    return {
      store: new SqliteStateStore({ path: join(dir, 'store.sqlite') }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
  [
    { field: 'busyTimeoutMs', open: async () => new SqliteStateStore({ path: ':memory:', busyTimeoutMs: -1 }) },
    { field: 'path', open: async () => new SqliteStateStore({}) },
  ],
);
