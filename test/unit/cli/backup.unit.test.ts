import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listManifestVersions, openManifest, type DrillRecord } from '../../../src/backup/index.js';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { UsageError } from '../../../src/cli/args.js';
import { backup } from '../../../src/cli/commands/backup.js';
import { SqliteDrillRecorder } from '../../../src/cli/commands/backup-drill.js';
import { restore } from '../../../src/cli/commands/restore.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicSpecs } from '../../../src/log/topics.js';
import { loadConfig } from '../../../services/backup/config.js';
import { archiveUntilCaughtUp, codec, writeAgents } from '../backup/helpers.js';

/** The backup CLI commands on the embedded profile, in-process. */
describe('agentstate backup / restore (embedded)', () => {
  let dir: string;
  const lines: string[] = [];
  const out = (s: string): void => void lines.push(s);
  const run = (cmd: (argv: string[], out: (s: string) => void, err: (s: string) => void) => Promise<number>, ...argv: string[]) => cmd([...argv, '--data-dir', dir, '--backend', 'embedded'], out, () => undefined);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentstate-cli-backup-'));
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite'), pollIntervalMs: 10 });
    await log.setup(topicSpecs({ prefix: 'agentstate.', partitions: 4 }));
    await writeAgents(log, 'agentstate.', ['c-1', 'c-2', 'c-3'], 3);
    // Half archived: status must show the lag of what is not.
    await archiveUntilCaughtUp({ log, blobs: new FsBlobStore({ dir: join(dir, 'blobs') }), codec, topicPrefix: 'agentstate.', segmentMaxBytes: 1500 });
    await writeAgents(log, 'agentstate.', ['c-4'], 1);
    await log.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses bad usage', async () => {
    await expect(run(backup)).rejects.toThrow(/missing <status\|verify\|drill>/);
    await expect(run(backup, 'nope')).rejects.toThrow(/unknown subcommand "nope"/);
    await expect(run(backup, 'drill', '--deep')).rejects.toBeInstanceOf(UsageError);
    await expect(run(backup, 'status', '--deep')).rejects.toBeInstanceOf(UsageError);
    await expect(run(restore, '--target-data-dir', join(dir, 'x'))).rejects.toThrow(/--to is required/);
    await expect(run(restore, '--to', 'yesterday', '--target-data-dir', join(dir, 'x'))).rejects.toThrow(/neither latest nor an ISO 8601 time/);
    await expect(run(restore, '--to', 'latest')).rejects.toThrow(/restoring onto servers needs them/);
    await expect(run(restore, '--to', 'latest', '--target-data-dir', dir)).rejects.toThrow(/must not be the source/);
    await expect(run(restore, '--to', 'latest', '--target-prefix', 'p.', '--target-data-dir', join(dir, 'x'))).rejects.toThrow(/--target-prefix and --target-database are for servers/);
    await expect(run(restore, '--to', 'latest', '--agents', ',', '--target-data-dir', join(dir, 'x'))).rejects.toThrow(/no agent id given/);
  });

  it('status shows segments and the lag of what is not archived yet', async () => {
    lines.length = 0;
    expect(await run(backup, 'status', '--json')).toBe(0);
    const rows = JSON.parse(lines.join('\n')) as { partition: number; segments: number; lagRecords: string }[];
    expect(rows).toHaveLength(4);
    expect(rows.reduce((n, r) => n + r.segments, 0)).toBeGreaterThan(0);
    expect(rows.reduce((n, r) => n + Number(r.lagRecords), 0)).toBe(2); // c-4 created + 1 update
    lines.length = 0;
    expect(await run(backup, 'status')).toBe(0);
    expect(lines).toContain('oldest restorable time: the start of the backup (no segment retired)');
  });

  it('drill restores the latest backup into a scratch data dir, verifies, records it in backup_drills, cleans up; status shows it', async () => {
    lines.length = 0;
    expect(await run(backup, 'status')).toBe(0);
    expect(lines.at(-1)).toBe('last successful drill: none (run agentstate backup drill)');
    lines.length = 0;
    expect(await run(backup, 'drill', '--json')).toBe(0);
    const r = JSON.parse(lines.join('\n')) as DrillRecord;
    // 12 archived records of c-1..c-3; c-4's 2 records are not archived: the RPO is their age.
    expect(r).toMatchObject({ ok: true, agents: 3, records: 12, mismatched: 0, error: null, cleanedUp: true });
    expect(r.rpoSeconds).toBeGreaterThan(0);
    expect(r.restoreSeconds).toBeGreaterThan(0);
    expect(existsSync(r.target)).toBe(false);
    expect(readdirSync(join(dir, '.drills'))).toEqual([]);
    const recorder = new SqliteDrillRecorder(dir);
    expect((await recorder.recent(5)).map((d) => d.drillId)).toEqual([r.drillId]);
    await recorder.close();
    lines.length = 0;
    expect(await run(backup, 'status')).toBe(0);
    expect(lines.at(-1)).toMatch(new RegExp(`^last successful drill: ok drill ${r.drillId} at .*: 3 agents, 12 records restored and verified in [\\d.]+ s, RPO [\\d.]+ s`));
  });

  it('verify passes, restore restores, and verify names a deleted segment (exit 1)', async () => {
    lines.length = 0;
    expect(await run(backup, 'verify', '--deep')).toBe(0);
    expect(lines.at(-1)).toMatch(/^backup ok: \d+ segments, 12 records, 3 agents$/);
    lines.length = 0;
    expect(await run(restore, '--to', 'latest', '--target-data-dir', join(dir, 'restored'))).toBe(0);
    expect(lines.at(-1)).toBe('verified: 3 agents, version and checksum equal the backup');
    // Issue 12 §7: the restored data dir is as private as any other: directories 0700, files 0600.
    const modes = (path: string): string[] =>
      readdirSync(path, { withFileTypes: true }).flatMap((e) => {
        const p = join(path, e.name);
        const m = `${e.name} ${(statSync(p).mode & 0o777).toString(8)}`;
        return e.isDirectory() ? [m, ...modes(p)] : [m];
      });
    const restored = join(dir, 'restored');
    expect((statSync(restored).mode & 0o777).toString(8)).toBe('700');
    const all = modes(restored);
    expect(all).toEqual(expect.arrayContaining(['log.sqlite 600', 'store.sqlite 600', 'blobs 700']));
    for (const m of all) expect(m).toMatch(/ (600|700)$/);
    const blobs = new FsBlobStore({ dir: join(dir, 'blobs') });
    let v: { key: string } | undefined;
    for (let p = 0; p < 4 && !v; p++) [v] = await listManifestVersions(blobs, p);
    const m = await openManifest((await blobs.get(v!.key))!, v!.key);
    unlinkSync(join(dir, 'blobs', m.segment.key));
    lines.length = 0;
    expect(await run(backup, 'verify')).toBe(1);
    expect(lines.join('\n')).toContain(`DAMAGED partition ${m.partition} offsets ${m.segment.firstOffset}-${m.segment.lastOffset}: segment_missing`);
    // A drill now fails (the restore refuses to cross the damage), is recorded as failed, and status says so.
    lines.length = 0;
    expect(await run(backup, 'drill')).toBe(1);
    expect(lines.at(-1)).toMatch(/^FAILED drill .*error: backup partition \d+ is damaged at offsets/);
    lines.length = 0;
    expect(await run(backup, 'status')).toBe(0);
    expect(lines.at(-2)).toMatch(/^last successful drill: ok drill /);
    expect(lines.at(-1)).toMatch(/^last drill: FAILED drill /);
  });

  it('the service config names the bad field', () => {
    expect(() => loadConfig({ BACKUP_SEGMENT_MAX_BYTES: '0' }, [])).toThrow(/BACKUP_SEGMENT_MAX_BYTES/);
    expect(() => loadConfig({ BACKUP_COMPRESSION: 'zip' }, [])).toThrow(/BACKUP_COMPRESSION/);
    expect(() => loadConfig({ KAFKA_BROKERS: 'k:9092' }, [])).toThrow(/S3_ENDPOINT/);
    expect(() => loadConfig({}, ['--x'])).toThrow(/arguments/);
    expect(() => loadConfig({ BACKUP_KEEP_DAYS: '-1' }, [])).toThrow(/BACKUP_KEEP_DAYS/);
    // Retention by age is off unless asked for: nothing changes for existing backups.
    expect(loadConfig({}, [])).toMatchObject({ checkpointIntervalMs: 0, keepDays: 0, keepMonthly: 0 });
    expect(loadConfig({ BACKUP_CHECKPOINT_INTERVAL_MS: '86400000', BACKUP_KEEP_DAYS: '30', BACKUP_KEEP_MONTHLY: '12' }, [])).toMatchObject({ checkpointIntervalMs: 86_400_000, keepDays: 30, keepMonthly: 12 });
    expect(loadConfig({}, [])).toMatchObject({ profile: 'embedded', group: 'agentstate.backup', segmentMaxBytes: 8 * 1024 * 1024, segmentMaxAgeMs: 30_000, compression: 'lz4', metricsPort: 9465 });
  });
});
