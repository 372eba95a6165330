import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backup } from '../../../src/cli/commands/backup.js';
import { history, inspect, stateAt } from '../../../src/cli/commands/inspect.js';
import { status } from '../../../src/cli/commands/status.js';
import { MasterKeySet } from '../../../src/codec/master-keys.js';
import { openLog, openSinks } from '../../../src/sdk/wiring.js';

const root = mkdtempSync(join(tmpdir(), 'agentstate-readonly-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const out = (): void => undefined;
const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

/** Issue 12 §3 and §7: read-only commands create nothing; what the embedded profile creates is private. */
describe('embedded data dir: read-only commands and file modes', () => {
  it.each([
    ['status', () => status(['--data-dir', join(root, 'missing'), '--backend', 'embedded'], out)],
    ['inspect', () => inspect(['a-1', '--data-dir', join(root, 'missing'), '--backend', 'embedded'], out)],
    ['history', () => history(['a-1', '--data-dir', join(root, 'missing'), '--backend', 'embedded'], out)],
    ['state', () => stateAt(['a-1', '--at', '1', '--data-dir', join(root, 'missing'), '--backend', 'embedded'], out)],
    ['backup status', () => backup(['status', '--data-dir', join(root, 'missing'), '--backend', 'embedded'], out)],
  ])('%s on a data dir that does not exist fails naming it and creates nothing', async (_name, run) => {
    await expect(run()).rejects.toMatchObject({ code: 'AS_NOT_FOUND', message: expect.stringContaining(join(root, 'missing')) as unknown });
    expect(existsSync(join(root, 'missing'))).toBe(false);
  });

  it('a read-only command on an existing data dir works and still creates no store', async () => {
    const dir = join(root, 'existing');
    const log = await openLog({ kind: 'embedded', dataDir: dir, topicPrefix: 'agentstate.' });
    await log.setupTopics();
    await log.close();
    expect(await status(['--data-dir', dir, '--backend', 'embedded'], out)).toBe(0);
    expect(existsSync(join(dir, 'store.sqlite'))).toBe(false);
    expect(existsSync(join(dir, 'blobs'))).toBe(false);
  });

  it('creates data dirs 0700 and databases, their WAL files and blobs 0600', async () => {
    const dir = join(root, 'modes', 'nested');
    const log = await openLog({ kind: 'embedded', dataDir: dir, topicPrefix: 'agentstate.' });
    await log.setupTopics();
    const masterKeys = MasterKeySet.parse(`k1:${Buffer.alloc(32, 7).toString('base64')}`);
    const sinks = await openSinks({ kind: 'embedded', dataDir: dir, masterKeys });
    try {
      await sinks.blobs.put('snapshots/a/1', Buffer.from('x'));
      await sinks.store.counts();
      expect(mode(join(root, 'modes'))).toBe('700');
      expect(mode(dir)).toBe('700');
      for (const f of ['log.sqlite', 'log.sqlite-wal', 'store.sqlite', 'store.sqlite-wal', 'keys.sqlite']) expect(`${f} ${mode(join(dir, f))}`).toBe(`${f} 600`);
      expect(mode(join(dir, 'blobs'))).toBe('700');
      expect(mode(join(dir, 'blobs', 'snapshots'))).toBe('700');
      expect(mode(join(dir, 'blobs', 'snapshots', 'a', '1'))).toBe('600');
    } finally {
      await sinks.close();
      await log.close();
    }
  });
});
