import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteDataKeyStore, SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { stateRow } from '../store/suite.js';
import { dataKey, dataKeyContract } from './suite.js';

// A fresh temporary file per storage: the real on-disk configuration (WAL,
// synchronous=FULL), not ':memory:'.
dataKeyContract(
  'SqliteDataKeyStore',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentstate-data-keys-contract-'));
    return {
      open: async () => {
        const store = new SqliteDataKeyStore({ path: join(dir, 'keys.sqlite') });
        return { store, close: () => store.close() };
      },
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
  { durable: true },
);

describe('SqliteDataKeyStore on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentstate-data-keys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('shares one file with the state store', async () => {
    const path = join(dir, 'shared.sqlite');
    const states = new SqliteStateStore({ path });
    const keys = new SqliteDataKeyStore({ path });
    await keys.setup(); // either may create store_meta first
    await states.setup();
    await keys.setup();
    const key = dataKey('agent-1', 1);
    await keys.create(key);
    await states.writeBatch({ states: [stateRow('agent-1', 1)], events: [] });
    expect(await keys.get(key.keyId)).toEqual(key);
    expect((await states.getState('agent-1'))?.version).toBe(1);
    await keys.close();
    await keys.close(); // safe twice
    await states.close();
    await expect(keys.get(key.keyId)).rejects.toMatchObject({ code: 'AS_CLOSED', retryable: false });
  });

  it('destroy leaves no copy of the wrapped key in the database file or its WAL', async () => {
    const path = join(dir, 'shred.sqlite');
    const store = new SqliteDataKeyStore({ path });
    await store.setup();
    const wrapped = randomBytes(60);
    const keep = dataKey('agent-keep', 1);
    await store.create(dataKey('agent-shred', 1, { wrapped }));
    await store.create(keep);
    const onDisk = (): Buffer => Buffer.concat([path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p)));
    expect(onDisk().includes(wrapped)).toBe(true);
    expect(await store.destroy('agent-shred/dk/1', 1_800_000_000_000)).toBe(true);
    expect(onDisk().includes(wrapped)).toBe(false);
    expect(onDisk().includes(keep.wrapped!)).toBe(true);
    await store.close();
  });

  it('refuses a file whose data_keys schema is newer than this build', async () => {
    const path = join(dir, 'newer.sqlite');
    const store = new SqliteDataKeyStore({ path });
    await store.setup();
    await store.close();
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(path);
    db.prepare(`UPDATE store_meta SET value = '99' WHERE key = 'data_keys_schema_version'`).run();
    db.close();
    const again = new SqliteDataKeyStore({ path });
    await expect(again.setup()).rejects.toThrow(/data_keys schema version 99/);
    await again.close();
  });
});
