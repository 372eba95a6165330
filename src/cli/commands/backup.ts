import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  backupStatus,
  describeDrill,
  embeddedDrillTarget,
  listBackupPartitions,
  oldestRestorableTime,
  runDrill,
  verifyBackup,
  type DrillRecorder,
  type ExpectedHead,
  type SnapshotRef,
  type VerifyReport,
} from '../../backup/index.js';
import { backendKind, GLOBAL_HELP, parse, positionalArgs, UsageError } from '../args.js';
import { openBackend, type Backend } from '../backend.js';
import { MasterKeySet } from '../../codec/master-keys.js';
import { openStoreOnly } from '../store-only.js';
import { MongoConnection } from '../../store/mongo/connection.js';
import { readEnv } from '../../config/env.js';
import { openBackupBlobs, openKeyringReadOnly } from '../backup-sources.js';
import { MongoDrillRecorder, serversDrillTarget, SqliteDrillRecorder } from './backup-drill.js';

/** Where drills are recorded: `backup_drills` in the source's MongoDB database, or in <data-dir>/backup.sqlite. */
export async function openDrillRecorder(backend: Backend, dataDir: string, env: NodeJS.ProcessEnv, readOnly = false): Promise<DrillRecorder | undefined> {
  if (backend.kind === 'embedded') {
    // Only reading (backup status): no drill was ever recorded, and none is created.
    if (readOnly && !existsSync(join(resolve(dataDir), 'backup.sqlite'))) return undefined;
    return new SqliteDrillRecorder(dataDir, readOnly);
  }
  const mongo = readEnv(env).mongo;
  return mongo ? new MongoDrillRecorder(await MongoConnection.connect({ uri: mongo.uri, database: mongo.database })) : undefined;
}

export const backupHelp = `agentstate backup status | verify [--deep] | drill [options]

  status          per partition: segments archived, the log's start offset
                  (older records are in the backup only, once capped by
                  BACKUP_TRIM_LOG_AFTER_MS), next offset not in the
                  backup, lag in records and seconds (the RPO right now);
                  then the last successful drill (and the last one, if it failed)
  verify          reads every segment of the backup: stored and frame
                  checksums, the manifest hash chain, contiguity of offsets
                  and of each agent's versions; a missing, truncated or
                  tampered segment or manifest is named with its offsets.
                  Exit 1 when anything is damaged.
  verify --deep   also folds every agent's events with the reducer and
                  compares version + checksum with the state store, and the
                  fold at each snapshot's version with the snapshot's
                  checksum (when there is a store); names each mismatch
  drill           restores the latest backup into a scratch target (servers:
                  topics <prefix>drill-<id>.*, database <db>_drill_<id>, the
                  S3 prefix of those topics; embedded: <data-dir>/.drills/<id>),
                  verifies every agent, reports the RPO and the restore time,
                  removes the scratch target and records the result in
                  backup_drills (MongoDB, or <data-dir>/backup.sqlite).
                  Exit 1 when the drill fails. The backup service can run it
                  on a schedule: BACKUP_DRILL_INTERVAL_MS (off by default)

The backup lives in the blob store: <data-dir>/blobs/backup/ embedded, or
S3_BUCKET under the topic prefix on servers (S3_ENDPOINT, S3_BUCKET,
S3_ACCESS_KEY, S3_SECRET_KEY). See docs/backup.md.

${GLOBAL_HELP}`;

function printVerify(report: VerifyReport, out: (s: string) => void): void {
  for (const p of report.partitions)
    out(`partition ${p.partition}: ${p.segments} segments, ${p.records} records, offsets ${p.firstOffset ?? '-'}..${p.nextOffset === null ? '-' : BigInt(p.nextOffset) - 1n}, ${p.bytes} bytes`);
  for (const p of report.partitions) {
    const c = p.checkpoint;
    if (c) out(`partition ${p.partition}: starts at checkpoint ${c.key} (${c.agents} agents; offsets below ${c.nextOffset} retired by the retention; oldest restorable time ${new Date(c.maxTimestamp).toISOString()})`);
  }
  for (const p of report.problems) out(`DAMAGED ${p.partition < 0 ? p.key : `partition ${p.partition} offsets ${p.firstOffset ?? '?'}-${p.lastOffset ?? '?'}`}: ${p.kind}: ${p.detail}`);
  for (const g of report.versionGaps.slice(0, 20)) out(`version gap: ${g.instanceId} jumps from ${g.from} to ${g.to} at partition ${g.partition} offset ${g.offset}`);
  if (report.shredded) out(`${report.shredded} record(s) of crypto-shredded agents (unreadable on purpose)`);
  if (report.locked) out(`${report.locked} encrypted record(s) checked by checksum only (no master keys in the environment)`);
  if (report.unreferenced.length) out(`${report.unreferenced.length} segment object(s) named by no manifest (a crash between segment and manifest; harmless)`);
  if (report.deep) {
    const d = report.deep;
    const rejected = Object.entries(d.rejected)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    out(`deep: ${d.folded} agents folded, ${d.matched} match the store, ${d.ahead} ahead in the store (not archived yet), ${d.mismatched.length} differ${rejected ? `; rejected events: ${rejected}` : ''}`);
    for (const m of d.mismatched) out(`MISMATCH ${m.instanceId}: backup v${m.backup.version} ${m.backup.checksum}, store v${m.expected.version} ${m.expected.checksum}`);
    if (d.snapshots) {
      const s = d.snapshots;
      out(`deep: ${s.checked} snapshots compared with the fold at their version, ${s.matched} match, ${s.ahead} past the backup (not archived yet), ${s.mismatched.length} differ`);
      for (const m of s.mismatched) out(`SNAPSHOT MISMATCH ${m.instanceId} snapshot ${m.snapshotId} (version ${m.version}): snapshot checksum ${m.snapshot}, backup fold ${m.backup ?? 'never reaches this version'}`);
    }
  }
  out(
    report.ok
      ? `backup ok: ${report.segments} segments, ${report.records} records, ${report.agents} agents`
      : `backup DAMAGED: ${report.problems.length} problem(s)${report.deep?.mismatched.length ? `, ${report.deep.mismatched.length} mismatched agent(s)` : ''}${report.deep?.snapshots?.mismatched.length ? `, ${report.deep.snapshots.mismatched.length} mismatched snapshot(s)` : ''}`,
  );
}

export async function backup(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, { deep: { type: 'boolean' } as never });
  if (values.help) return (out(backupHelp), 0);
  const [sub] = positionalArgs(positionals, ['status|verify|drill'], 'agentstate backup status|verify [--deep]|drill');
  if (sub !== 'status' && sub !== 'verify' && sub !== 'drill') throw new UsageError(`unknown subcommand "${sub}" (status, verify or drill)`);
  if (sub !== 'verify' && values.deep) throw new UsageError('--deep is an option of verify');
  const dataDir = values['data-dir'];
  const backend = await openBackend({ dataDir, backend: backendKind(values.backend), env: process.env, readOnly: true });
  const blobs = await openBackupBlobs(backend, dataDir, process.env).catch(async (e: unknown) => {
    await backend.close();
    throw e;
  });
  try {
    if (sub === 'drill') {
      const recorder = await openDrillRecorder(backend, dataDir, process.env);
      try {
        const masterKeys = await MasterKeySet.fromEnv(process.env);
        const target =
          backend.kind === 'embedded'
            ? embeddedDrillTarget({ blobs, dataDir, codec: backend.codec, topicPrefix: backend.prefix, ...(masterKeys ? { masterKeys } : {}) })
            : serversDrillTarget(process.env, backend.prefix, blobs);
        const r = await runDrill({ blobs, log: backend.log, topicPrefix: backend.prefix, target, ...(recorder ? { recorder } : {}) });
        out(values.json ? JSON.stringify(r, null, 2) : describeDrill(r));
        return r.ok ? 0 : 1;
      } finally {
        await recorder?.close();
      }
    }
    if (sub === 'status') {
      const rows = await backupStatus({ blobs, log: backend.log, topicPrefix: backend.prefix });
      const recorder = await openDrillRecorder(backend, dataDir, process.env, true).catch(() => undefined);
      const [lastOk, [last]] = recorder ? await Promise.all([recorder.lastSuccessful(), recorder.recent(1)]).finally(() => recorder.close()) : [undefined, []];
      if (values.json) out(JSON.stringify(rows, null, 2));
      else {
        out('partition  segments  log-start  archived-next  end-offset  lag-records  lag-seconds  last-segment');
        for (const r of rows) {
          out(
            `${String(r.partition).padStart(9)}  ${String(r.segments).padStart(8)}  ${r.logStart.padStart(9)}  ${String(r.archivedNext ?? '-').padStart(13)}  ${r.endOffset.padStart(10)}  ${r.lagRecords.padStart(11)}  ${r.lagSeconds.toFixed(1).padStart(11)}  ${r.lastSegmentAt ? new Date(r.lastSegmentAt).toISOString() : '-'}`,
          );
        }
        const oldest = await oldestRestorableTime(blobs, await listBackupPartitions(blobs));
        out(`oldest restorable time: ${oldest === undefined ? 'the start of the backup (no segment retired)' : `${new Date(oldest).toISOString()} (older segments retired by BACKUP_KEEP_DAYS)`}`);
        out(lastOk ? `last successful drill: ${describeDrill(lastOk)}` : 'last successful drill: none (run agentstate backup drill)');
        if (last && !last.ok) out(`last drill: ${describeDrill(last)}`);
      }
      return 0;
    }
    let expected: ((ids: string[]) => Promise<Map<string, ExpectedHead>>) | undefined;
    let snapshots: ((ids: string[]) => Promise<Map<string, SnapshotRef[]>>) | undefined;
    // Only the keys and the store are read: each opened read-only on its own (a read-only data dir, issue 12 §7).
    const keys = await openKeyringReadOnly(backend, dataDir, process.env);
    let closeStore: (() => Promise<void>) | undefined;
    const hasStore = backend.kind === 'embedded' ? existsSync(join(resolve(dataDir), 'store.sqlite')) : !!process.env.MONGODB_URI;
    if (values.deep && hasStore) {
      const opened = await openStoreOnly(backend.kind, dataDir, process.env, 'verify the backup against the store');
      const sinks = { store: opened!, close: () => opened!.close() };
      closeStore = () => sinks.close();
      expected = async (ids) => {
        const out = new Map<string, ExpectedHead>();
        for (let i = 0; i < ids.length; i += 500) for (const [id, s] of await sinks.store.getStates(ids.slice(i, i + 500))) out.set(id, { version: s.version, checksum: s.checksum });
        return out;
      };
      snapshots = async (ids) => {
        const out = new Map<string, SnapshotRef[]>();
        for (let i = 0; i < ids.length; i += 16) {
          const page = ids.slice(i, i + 16);
          const lists = await Promise.all(page.map((id) => sinks.store.listSnapshots(id)));
          page.forEach((id, j) =>
            out.set(
              id,
              lists[j]!.map((r) => ({ snapshotId: r.snapshotId, version: r.version, stateChecksum: r.stateChecksum })),
            ),
          );
        }
        return out;
      };
    }
    try {
      const partitions = Object.keys(await backend.log.endOffsets(backend.topics.events)).length;
      const report = await verifyBackup({
        blobs,
        codec: backend.codec,
        deep: !!values.deep,
        ...(expected ? { expected } : {}),
        ...(snapshots ? { snapshots } : {}),
        ...(keys?.keyring ? { keyring: keys.keyring } : {}),
        partitions,
      });
      if (values.json) out(JSON.stringify(report, null, 2));
      else printVerify(report, out);
      return report.ok ? 0 : 1;
    } finally {
      await Promise.allSettled([closeStore?.(), keys?.close()]);
    }
  } finally {
    await blobs.close();
    await backend.close();
  }
}
