import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { eventLogContract } from './suite.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-log-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

eventLogContract('SqliteEventLog', async () => ({
  log: new SqliteEventLog({ path: join(dir, 'log.sqlite'), pollIntervalMs: 20 }),
  topicPrefix: 'contract.',
}));
