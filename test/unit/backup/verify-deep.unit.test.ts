import { describe, expect, it } from 'vitest';
import { backup } from '../../../src/cli/commands/backup.js';
import { Projector } from '../../../src/projector/index.js';
import { openEmbeddedSource, tempRoot } from '../../support/embedded-source.js';
import { archiveUntilCaughtUp, codec, writeAgents } from './helpers.js';

const dir = tempRoot('verify-deep');

/** `agentstate backup verify --deep` folds the backup's events and compares the fold at each snapshot's version with the snapshot's checksum. */
describe('backup verify --deep against snapshots', () => {
  it('matches every snapshot, and names a snapshot whose checksum differs (exit 1)', async () => {
    const prefix = 'agentstate.';
    const source = await openEmbeddedSource(dir, prefix, 4);
    const { log, blobs, store } = source;
    const ids = ['d-1', 'd-2', 'd-3'];
    let snapshots = 0;
    try {
      await writeAgents(log, prefix, ids, 5);
      await new Projector({ log, codec, store, blobs, topicPrefix: prefix, sweepIntervalMs: 0, snapshots: { everyEvents: 2 } }).runUntilCaughtUp();
      for (const id of ids) snapshots += (await store.listSnapshots(id)).length;
      expect(snapshots).toBe(ids.length * 3); // versions 2, 4, 6
      await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, segmentMaxBytes: 1500 });
    } finally {
      await log.close();
    }
    const lines: string[] = [];
    const run = (...argv: string[]) => backup([...argv, '--data-dir', dir, '--backend', 'embedded'], (s) => void lines.push(s));
    expect(await run('verify', '--deep')).toBe(0);
    expect(lines).toContain(`deep: ${snapshots} snapshots compared with the fold at their version, ${snapshots} match, 0 past the backup (not archived yet), 0 differ`);

    // A snapshot record that no longer matches the events (bit rot, a bad migration): named, exit 1.
    const [bad] = await store.listSnapshots('d-2');
    await store.putSnapshot({ ...bad!, stateChecksum: 'f'.repeat(64) });
    await store.close();
    lines.length = 0;
    expect(await run('verify', '--deep', '--json')).toBe(1);
    const report = JSON.parse(lines.join('\n')) as {
      ok: boolean;
      deep: { snapshots: { matched: number; mismatched: { instanceId: string; snapshotId: string; version: number; snapshot: string; backup: string | null }[] } };
    };
    expect(report.ok).toBe(false);
    expect(report.deep.snapshots.matched).toBe(snapshots - 1);
    expect(report.deep.snapshots.mismatched).toEqual([{ instanceId: 'd-2', snapshotId: bad!.snapshotId, version: bad!.version, snapshot: 'f'.repeat(64), backup: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
    lines.length = 0;
    expect(await run('verify', '--deep')).toBe(1);
    expect(lines.join('\n')).toContain(`SNAPSHOT MISMATCH d-2 snapshot ${bad!.snapshotId} (version ${bad!.version})`);
  });
});
