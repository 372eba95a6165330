import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyRetention, checkpointAgents, listCheckpoints, openCheckpoint, openSegment, restoreEmbedded, verifyBackup } from '../../../src/backup/index.js';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { describeBlob, Keyring, MasterKeySet } from '../../../src/codec/index.js';
import { AgentStateClient } from '../../../src/client/index.js';
import { StateManager } from '../../../src/manager/index.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { InMemoryDataKeyStore } from '../../../src/store/data-keys.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { openEmbeddedSource, tempRoot } from '../../support/embedded-source.js';
import { archiveUntilCaughtUp, codec, writeAgents } from './helpers.js';

const root = tempRoot('backup-enc');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));
}

describe('encrypted backup (values under each agent data key)', () => {
  it('keeps no value in the clear, verifies and restores with the keys, and a shredded agent stays unreadable after a restore', async () => {
    const prefix = 'enc.';
    const source = await openEmbeddedSource(join(root, 'src'), prefix, 2);
    const { dir, log, blobs } = source;
    const keyring = new Keyring({ masterKeys: new MasterKeySet({ k1: randomBytes(32) }), store: new InMemoryDataKeyStore() });
    const ids = Array.from({ length: 6 }, (_, i) => `e-${i}`);
    try {
      await writeAgents(log, prefix, ids, 3, 'secret-marker-');
      await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, keyring, segmentMaxBytes: 2500, compression: 'none' });
      // Uncompressed frames, and still no value, key text or marker appears in any segment.
      for (const f of files(join(dir, 'blobs')).filter((f) => f.includes('/segments/'))) {
        const bytes = readFileSync(f);
        expect(bytes.includes(Buffer.from('secret-marker-'))).toBe(false);
        expect((await openSegment(bytes)).records.every((r) => r.encoding === 1)).toBe(true);
      }
      expect((await verifyBackup({ blobs, codec, keyring, deep: true })).deep!.folded).toBe(ids.length);
      const locked = await verifyBackup({ blobs, codec });
      expect({ ok: locked.ok, locked: locked.locked, agents: locked.agents }).toEqual({ ok: true, locked: ids.length * 4, agents: 0 });

      // e-0 is erased by crypto-shredding; its later events reach the log (plain) and are withheld from the backup.
      await keyring.destroyAgentKeys('e-0');
      await writeAgents(log, prefix, ids, 1, 'after-', false);
      await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, keyring, segmentMaxBytes: 2500, compression: 'none' });
      const report = await verifyBackup({ blobs, codec, keyring, deep: true });
      expect(report.problems).toEqual([]);
      expect(report.shredded).toBe(6); // e-0: 4 encrypted before, then acquire + 1 update withheld
      expect(report.deep!.folded).toBe(ids.length - 1);

      const total = Object.values(await log.endOffsets(topicNames(prefix).events)).reduce((n, e) => n + Number(e), 0);
      const restored = await restoreEmbedded({ blobs, targetDataDir: join(root, 'restored'), codec, topicPrefix: prefix, keyring });
      expect({ ok: restored.ok, agents: restored.agents, published: restored.published, shredded: restored.shredded }).toEqual({ ok: true, agents: 5, published: total - 6, shredded: 6 });
      const store = new SqliteStateStore({ path: join(root, 'restored', 'store.sqlite') });
      expect(await store.getState('e-0')).toBeUndefined();
      expect((await store.getState('e-1'))?.version).toBe(6);
      await store.close();
      // Without the keys, a restore refuses (it cannot read the values), naming what it needs.
      await expect(restoreEmbedded({ blobs, targetDataDir: join(root, 'nokeys'), codec, topicPrefix: prefix })).rejects.toThrow(/master keys/);
    } finally {
      await source.close();
    }
  });

  it('checkpoints hold encrypted states; after crypto-shredding an agent its checkpoint state is unreadable, and a restore from a checkpoint brings it back nowhere', async () => {
    const prefix = 'encp.';
    const source = await openEmbeddedSource(join(root, 'cp-src'), prefix, 2);
    const { log, blobs } = source;
    const keyring = new Keyring({ masterKeys: new MasterKeySet({ k1: randomBytes(32) }), store: new InMemoryDataKeyStore() });
    const ids = Array.from({ length: 6 }, (_, i) => `ec-${i}`);
    const DAY = 86_400_000;
    const T = Date.now();
    const retention = (now: number) => applyRetention(blobs, { codec, keyring, now, checkpointIntervalMs: DAY, keepDays: 1, keepMonthly: 0 });
    try {
      await writeAgents(log, prefix, ids, 3, 'secret-marker-');
      await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, keyring, segmentMaxBytes: 2500 });
      expect((await retention(T)).every((p) => p.written && p.deletedSegments.length === 0)).toBe(true);
      const first = await Promise.all([0, 1].map(async (p) => (await listCheckpoints(blobs, p))[0]!.key));
      const opened = await Promise.all(first.map(async (k) => openCheckpoint((await blobs.get(k))!, k)));
      // No state in the clear: every agent's body is an encrypted frame.
      expect(JSON.stringify(opened).includes('secret-marker-')).toBe(false);
      expect(opened.flatMap((c) => Object.values(c.agents).map((a) => a.body.kind))).toEqual(ids.map(() => 'encrypted'));
      const holder = opened.find((c) => c.agents['ec-0'])!;
      expect((await checkpointAgents(holder, keyring)).get('ec-0')?.projection?.version).toBe(4);

      // ec-0 is erased: its state in the checkpoint no longer decrypts.
      await keyring.destroyAgentKeys('ec-0');
      const after = await checkpointAgents(holder, keyring);
      expect({ shredded: after.get('ec-0')?.shredded, projection: after.get('ec-0')?.projection }).toEqual({ shredded: true, projection: undefined });
      expect([...after.values()].filter((a) => a.projection).length).toBe(Object.keys(holder.agents).length - 1);

      // Without the keys (an archiver restarted without BACKUP_ENCRYPT), no next checkpoint is folded past encrypted states.
      await writeAgents(log, prefix, ids.slice(1, 2), 1, 'plain-', false);
      await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, keyring, segmentMaxBytes: 2500 });
      await expect(applyRetention(blobs, { codec, now: T + DAY, checkpointIntervalMs: DAY, keepDays: 1, keepMonthly: 0 })).rejects.toThrow(/next checkpoint needs the master keys/);

      // More writes, then the retention two days later: a new checkpoint, the segments behind it deleted.
      await writeAgents(log, prefix, ids, 1, 'after-', false);
      await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, keyring, segmentMaxBytes: 2500 });
      const r = await retention(T + 2 * DAY);
      expect(r.every((p) => p.written && p.deletedSegments.length > 0)).toBe(true);
      const verified = await verifyBackup({ blobs, codec, keyring, deep: true });
      expect({ ok: verified.ok, problems: verified.problems, folded: verified.deep!.folded }).toEqual({ ok: true, problems: [], folded: ids.length - 1 });

      const restored = await restoreEmbedded({ blobs, targetDataDir: join(root, 'cp-restored'), codec, topicPrefix: prefix, keyring });
      expect({ ok: restored.ok, agents: restored.agents, seeded: restored.seeded, checkpoints: restored.checkpoints.length }).toEqual({ ok: true, agents: ids.length - 1, seeded: ids.length - 1, checkpoints: 2 });
      const store = new SqliteStateStore({ path: join(root, 'cp-restored', 'store.sqlite') });
      expect(await store.getState('ec-0')).toBeUndefined();
      expect((await store.getState('ec-1'))?.version).toBe(8);
      await store.close();
      // Without the keys a restore from an encrypted checkpoint refuses, naming what it needs.
      await expect(restoreEmbedded({ blobs, targetDataDir: join(root, 'cp-nokeys'), codec, topicPrefix: prefix })).rejects.toThrow(/master keys/);
    } finally {
      await source.close();
    }
  });

  it('a claim-checked changeset: its backup copy is encrypted under the agent data key, verify and restore read it, the target gets it in the clear like its records', async () => {
    const prefix = 'encbig.';
    const dir = join(root, 'big');
    mkdirSync(dir, { recursive: true });
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite'), pollIntervalMs: 10 });
    await log.setup(topicSpecs({ prefix, partitions: 2 }));
    const blobs = new FsBlobStore({ dir: join(dir, 'blobs'), fsync: false });
    const keyring = new Keyring({ masterKeys: new MasterKeySet({ k1: randomBytes(32) }), store: new InMemoryDataKeyStore() });
    const marker = `secret-marker-${randomBytes(2048).toString('hex')}`;
    try {
      const writer = await AgentStateClient.connect({ log, codec, blobs, topicPrefix: prefix, bootstrap: false, changesets: { claimCheckBytes: 1024 } });
      await writer.createAgent('big-e', { agentType: 'worker' });
      await writer.memoryUpdated('big-e', { marker });
      await writer.close();
      const [source] = files(join(dir, 'blobs', 'changesets'));
      await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, keyring, compression: 'none' });
      const copies = files(join(dir, 'blobs', 'backup', 'changesets'));
      expect(copies.map((f) => f.split('/').slice(-2).join('/'))).toEqual([source!.split('/').slice(-2).join('/')]);
      const copy = readFileSync(copies[0]!);
      expect(describeBlob(copy).encrypted).toBe(true);
      expect(copy.includes(Buffer.from('secret-marker-'))).toBe(false);
      expect((await verifyBackup({ blobs, codec, keyring, deep: true })).deep).toMatchObject({ folded: 1, rejected: {} });

      const restored = await restoreEmbedded({ blobs, targetDataDir: join(root, 'big-restored'), codec, topicPrefix: prefix, keyring });
      expect([restored.ok, restored.agents]).toEqual([true, 1]);
      const [target] = files(join(root, 'big-restored', 'blobs', 'changesets'));
      expect(describeBlob(readFileSync(target!)).encrypted).toBe(false);
      const store = new SqliteStateStore({ path: join(root, 'big-restored', 'store.sqlite') });
      const targetBlobs = new FsBlobStore({ dir: join(root, 'big-restored', 'blobs') });
      const manager = new StateManager({ store, blobs: targetBlobs });
      expect((await manager.getCurrentState('big-e'))?.state.memory).toEqual({ marker });
      expect((await manager.getEventHistory('big-e', { fromVersion: 2 }))[0]?.changesetRef).toBeDefined();
      await Promise.allSettled([store.close(), targetBlobs.close()]);
    } finally {
      await Promise.allSettled([log.close(), blobs.close()]);
    }
  });
});
