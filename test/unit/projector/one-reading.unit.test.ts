import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { changesetBlobKey, sealBlob, withChangesets } from '../../../src/codec/index.js';
import { status } from '../../../src/cli/commands/status.js';
import { history, inspect, stateAt } from '../../../src/cli/commands/inspect.js';
import { rollback } from '../../../src/cli/commands/admin.js';
import { AgentStateClient, JsonEventCodec } from '../../../src/client/index.js';
import { canonicalJson, type StateEvent } from '../../../src/domain/index.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { StateManager } from '../../../src/manager/index.js';
import { DLQ_HEADER, Projector } from '../../../src/projector/index.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { bodyReader, PartitionFold, readFact, resolveSettings } from '../../../src/analytics/index.js';
import { restoreEmbedded, verifyBackup } from '../../../src/backup/index.js';
import { archiveUntilCaughtUp } from '../backup/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-one-reading-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Issue 12 §2: every reader of the log (projector, replay, writer view, CLI,
 * time travel, backup verify, restore, analytics) gives the same answer for
 * the same log, whatever bad records it holds.
 */
describe('one reading of the log', () => {
  it('projector, replay, writer view, CLI, StateManager, backup verify, restore and analytics agree on every bad-record kind', async () => {
    const prefix = 'agentstate.'; // the CLI's default
    const events = topicNames(prefix).events;
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite') });
    await log.setup(topicSpecs({ prefix, partitions: 4 }));
    const codec = new JsonEventCodec();
    // The deployment's blob store: claim-checked changesets (issue 12 §6), snapshots, large states.
    const blobs = new FsBlobStore({ dir: join(dir, 'blobs') });
    const writer = await AgentStateClient.connect({ log, codec, bootstrap: false });
    const id = 'r-1';
    await writer.createAgent(id, { agentType: 'worker' });
    await writer.createAgent('r-2', { agentType: 'worker' });
    const v2 = (await writer.memoryUpdated(id, { n: 2 })).generatedEvents[0]!;
    const v3 = (await writer.memoryUpdated(id, { n: 3 })).generatedEvents[0]!;
    const other = (await writer.memoryUpdated('r-2', { n: 1 })).generatedEvents[0]!;
    const raw = (value: Buffer | string): Promise<unknown> => log.append(events, [{ key: id, value: Buffer.from(value) }]);
    const crafted = (e: Partial<StateEvent>): Promise<unknown> => raw(canonicalJson({ ...v3, eventId: `bad-${Math.random()}`, ...e } as never));
    const expected = {
      undecodable: 2,
      wrong_key: 1,
      duplicate: 1,
      gap: 1,
      checksum_mismatch: 1,
      epoch_not_acquired: 1,
      unknown_type: 1,
      stale_epoch: 1,
      invalid_changeset: 1,
      changeset_missing: 1,
      changeset_mismatch: 1,
    };
    await raw(Buffer.from([0, 0, 0, 0, 7, 1, 2, 3])); // garbage
    await raw(canonicalJson({ instanceId: id, nodeId: 'n', sequence: 1, timestamp: 1 })); // a heartbeat in the wrong topic
    await raw(canonicalJson({ ...other, version: 4 } as never)); // r-2's event filed under r-1's key
    await crafted({ ...v2 }); // version 2 again
    await crafted({ version: 9 as StateEvent['version'] });
    await crafted({ version: 4 as StateEvent['version'], changeset: [{ path: '/memory/n', op: 'update', oldValue: 3, newValue: 99 }] });
    await crafted({ version: 4 as StateEvent['version'], writerEpoch: 5 as StateEvent['writerEpoch'], changeset: [] });
    await crafted({ version: 4 as StateEvent['version'], eventType: 'bogus' as never, changeset: [] });
    await crafted({ version: 4 as StateEvent['version'], writerEpoch: 0 as StateEvent['writerEpoch'], changeset: [] }); // a fenced writer
    await crafted({ version: 4 as StateEvent['version'], changeset: [{ path: '/memory/n/deeper', op: 'update', oldValue: 1, newValue: 2 }] }); // n is a number
    // Claim-checked changesets: one whose blob was never written, one whose blob is not the body its SHA-256 names.
    const claimed = canonicalJson([{ path: '/memory/n', op: 'update', oldValue: 3, newValue: 4 }]);
    const sha = createHash('sha256').update(claimed).digest('hex');
    const ref = (sha256: string) => ({ blobKey: changesetBlobKey(id, sha256), sha256, bytes: claimed.length, changes: 1 });
    await crafted({ version: 4 as StateEvent['version'], changeset: [], changesetRef: ref('0'.repeat(64)) });
    await blobs.put(changesetBlobKey(id, sha), await sealBlob(canonicalJson([{ path: '/memory/n', op: 'update', oldValue: 3, newValue: 666 }]), { algorithm: 'lz4' }));
    await crafted({ version: 4 as StateEvent['version'], changeset: [], changesetRef: ref(sha) });
    const v4 = await writer.memoryUpdated(id, { n: 4 });
    await writer.close();

    // The projector.
    const store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
    await store.setup();
    await new Projector({ log, codec, store, blobs, topicPrefix: prefix, sweepIntervalMs: 0 }).runUntilCaughtUp(undefined, 50);
    const row = await store.getState(id);
    expect([row?.version, row?.checksum]).toEqual([4, v4.checksum]);
    const dlq = topicNames(prefix).dlq;
    const reasons: Record<string, number> = {};
    for (const [p, end] of Object.entries(await log.endOffsets(dlq))) {
      for (const r of await log.read(dlq, Number(p), '0', end)) {
        const reason = r.headers[DLQ_HEADER.reason]!;
        reasons[reason] = (reasons[reason] ?? 0) + 1;
        expect(r.headers[DLQ_HEADER.detail], reason).not.toMatch(/TypeError|\n/);
      }
    }
    expect(reasons).toEqual(expected);

    // A writer that folds the log from the start.
    const reader = await AgentStateClient.connect({ log, codec, blobs, bootstrap: false, scope: 'fleet' });
    expect([reader.getState(id)?.version, reader.getState(id)?.checksum]).toEqual([4, v4.checksum]);
    await reader.close();

    // Time travel over the mirror.
    const manager = new StateManager({ store, blobs });
    expect((await manager.projectState(id, 4)).checksum).toBe(v4.checksum);

    // Replay: the log refolded from its start by another group into a fresh store (DESIGN.md Replay).
    const replayStore = new SqliteStateStore({ path: join(dir, 'replay.sqlite') });
    await replayStore.setup();
    await new Projector({ log, codec, store: replayStore, blobs, topicPrefix: prefix, group: 'replay', sweepIntervalMs: 0 }).runUntilCaughtUp(undefined, 50);
    const replayed = await replayStore.getState(id);
    expect([replayed?.version, replayed?.checksum]).toEqual([4, v4.checksum]);
    await replayStore.close();

    // The backup: verify --deep folds every agent from the archived records, and restore rebuilds a data dir from them.
    const backupBlobs = new FsBlobStore({ dir: join(dir, 'backup') });
    await archiveUntilCaughtUp({ log, blobs: backupBlobs, changesets: blobs, codec, topicPrefix: prefix });
    const heads = async (ids: string[]): Promise<Map<string, { version: number; checksum: string }>> => new Map([...(await store.getStates(ids))].map(([k, v]) => [k, { version: v.version, checksum: v.checksum }]));
    const verified = await verifyBackup({ blobs: backupBlobs, codec, deep: true, expected: heads, partitions: 4 });
    expect(verified.deep).toMatchObject({ folded: 2, matched: 2, mismatched: [] });
    // Its reasons are the fold's (the record-level ones, undecodable, wrong_key and the changeset blob's, are skipped before it).
    const { undecodable: _u, wrong_key: _w, changeset_missing: _m, changeset_mismatch: _x, ...stepReasons } = expected;
    expect(verified.deep?.rejected).toEqual(stepReasons);
    await restoreEmbedded({ blobs: backupBlobs, targetDataDir: join(dir, 'restored'), codec, topicPrefix: prefix });
    const restoredStore = new SqliteStateStore({ path: join(dir, 'restored', 'store.sqlite') });
    const restored = await restoredStore.getState(id);
    expect([restored?.version, restored?.checksum]).toEqual([4, v4.checksum]);
    expect((await restoredStore.getState('r-2'))?.version).toBe(2);
    await restoredStore.close();

    // Analytics: its fold accepts the same versions per agent, skips the same undecodable and misfiled records, and
    // rejects the claim-checked changesets whose blob is gone or altered for the projector's reasons (readEventRecord).
    const settings = resolveSettings();
    const analyticsHeads = new Map<string, number>();
    const skipped: Record<string, number> = {};
    const analyticsRejected: Record<string, number> = {};
    const changesets = withChangesets(codec, blobs);
    for (const [p, end] of Object.entries(await log.endOffsets(events))) {
      const fold = new PartitionFold(Number(p), settings);
      for (const r of await log.read(events, Number(p), '0', end)) {
        const reading = await readFact(r, bodyReader(), changesets);
        if (reading.kind === 'skip') skipped[reading.reason] = (skipped[reading.reason] ?? 0) + 1;
        fold.add(r.key, r.offset, reading);
      }
      for (const [agent, a] of fold.agents) if (a.head) analyticsHeads.set(agent, a.head.version);
      // One window label counts every event once.
      for (const w of fold.drain().windows.filter((x) => x.window === Object.keys(settings.windows)[0])) {
        for (const [reason, n] of Object.entries(w.rejectReasons)) analyticsRejected[reason] = (analyticsRejected[reason] ?? 0) + n;
      }
    }
    expect(Object.fromEntries(analyticsHeads)).toEqual({ [id]: 4, 'r-2': 2 });
    // The heartbeat misfiled in the events topic has none of an event's fields: analytics calls it missing_field.
    expect(skipped).toEqual({ undecodable: 1, missing_field: 1, wrong_key: 1 });
    expect(analyticsRejected).toMatchObject({ changeset_missing: 1, changeset_mismatch: 1 });
    await backupBlobs.close();

    // The CLI: status does not fail, and counts what the projector sent to the DLQ (from the
    // DLQ's offsets: status never folds history, so the reasons are the DLQ's, checked above); inspect agrees.
    await blobs.close();
    await store.close();
    await log.close();
    const lines: string[] = [];
    const out = (s: string): void => void lines.push(s);
    expect(await status(['--data-dir', dir, '--backend', 'embedded', '--json'], out)).toBe(0);
    // 12 rejected, twice: the replay's projector sent the same 12 to the DLQ again (the DLQ is at least once).
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ agents: 2, rejected: 24 });
    const cli = (argv: string[]): string[] => [...argv, '--data-dir', dir, '--backend', 'embedded', '--json'];
    expect(await inspect(cli([id]), out)).toBe(0);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ version: 4, checksum: v4.checksum });
    // history, state --at and rollback read the same log the same way. history lists every decodable
    // record of the agent with the log's decision: the accepted ones are its versions, the others carry the DLQ's reason.
    expect(await history(cli([id]), out)).toBe(0);
    const rows = JSON.parse(lines.at(-1)!) as { version: number; accepted: boolean; rejectReason?: string }[];
    expect(rows.filter((r) => r.accepted).map((r) => r.version)).toEqual([1, 2, 3, 4]);
    expect(rows.filter((r) => !r.accepted).every((r) => r.rejectReason !== undefined && r.rejectReason in expected)).toBe(true);
    expect(await stateAt(cli([id, '--at', '3']), out)).toBe(0);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ version: 3, checksum: v3.stateChecksum });
    expect(await rollback(cli([id, '3']), out)).toBe(0);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ rolledBackTo: 3, newVersion: 6, sameAsTarget: true });
  });
});
