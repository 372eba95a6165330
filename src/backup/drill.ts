import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BlobStore } from '../blob/port.js';
import type { EventCodec } from '../codec/event-codec.js';
import type { MasterKeySet } from '../codec/master-keys.js';
import type { EventLog } from '../log/port.js';
import { listBackupPartitions, listManifestVersions, openManifest } from './manifest.js';
import { restoreEmbedded } from './restore-embedded.js';
import type { RestoreReport } from './restore-target.js';
import { backupStatus } from './status.js';

/**
 * `agentstate backup drill` (issue 14, the seed's "regular backup restoration
 * testing"): restores the latest backup into a scratch target (a scratch
 * topic prefix + database + S3 prefix on servers, a scratch data dir
 * embedded), verifies every agent, measures the RPO and the restore time,
 * removes the scratch target and records the result in `backup_drills`.
 */

/** One drill as recorded in `backup_drills`. */
export interface DrillRecord {
  drillId: string;
  startedAt: number;
  finishedAt: number;
  ok: boolean;
  /** Where the scratch restore went (removed afterwards). */
  target: string;
  /** Data a disaster at the drill's start would have lost: age of the oldest record not in the backup (s); null without a log to compare with. */
  rpoSeconds: number | null;
  /** Timestamp of the newest archived record (ms); null for an empty backup. */
  latestArchivedAt: number | null;
  /** Restore (republish + project + verify) wall time (s). */
  restoreSeconds: number;
  records: number;
  agents: number;
  /** Agents whose restored version/checksum differ from the backup, or missing. */
  mismatched: number;
  /** Damage named by the restore (it stops at the first). */
  error: string | null;
  cleanedUp: boolean;
}

/** A scratch restore target: restore into it, then remove it. */
export interface DrillTarget {
  where: string;
  restore(): Promise<RestoreReport>;
  cleanup(): Promise<void>;
}

/** Where drills are recorded: MongoDB `backup_drills`, or the `backup_drills` table of `<data-dir>/backup.sqlite`. */
export interface DrillRecorder {
  record(r: DrillRecord): Promise<void>;
  /** Most recent first. */
  recent(limit: number): Promise<DrillRecord[]>;
  lastSuccessful(): Promise<DrillRecord | undefined>;
  close(): Promise<void>;
}

export interface DrillOptions {
  /** The backup. */
  blobs: BlobStore;
  /** The source log, to measure the RPO (records not in the backup yet). */
  log?: EventLog;
  topicPrefix?: string;
  /** Makes the scratch target (given a drill id, unique per drill). */
  target: (drillId: string) => Promise<DrillTarget>;
  recorder?: DrillRecorder;
  now?: () => number;
}

/** The newest record timestamp the backup holds (the manifests' maxTimestamp of each partition's head). */
export async function latestArchivedAt(blobs: BlobStore): Promise<number | null> {
  let latest: number | null = null;
  for (const p of await listBackupPartitions(blobs)) {
    const last = (await listManifestVersions(blobs, p)).at(-1);
    const bytes = last ? await blobs.get(last.key) : undefined;
    const m = bytes && last ? await openManifest(bytes, last.key).catch(() => undefined) : undefined;
    if (m) latest = Math.max(latest ?? 0, m.segment.maxTimestamp);
  }
  return latest;
}

/** Runs one drill. Never throws for a failed restore: the failure is the result (recorded, `ok: false`). */
export async function runDrill(options: DrillOptions): Promise<DrillRecord> {
  const now = options.now ?? Date.now;
  const drillId = `${new Date(now()).toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
  const startedAt = now();
  let rpoSeconds: number | null = null;
  if (options.log) {
    const rows = await backupStatus({ blobs: options.blobs, log: options.log, ...(options.topicPrefix ? { topicPrefix: options.topicPrefix } : {}), now: startedAt });
    rpoSeconds = Math.max(0, ...rows.map((r) => r.lagSeconds));
  }
  const latest = await latestArchivedAt(options.blobs);
  const target = await options.target(drillId);
  const record: DrillRecord = {
    drillId,
    startedAt,
    finishedAt: 0,
    ok: false,
    target: target.where,
    rpoSeconds,
    latestArchivedAt: latest,
    restoreSeconds: 0,
    records: 0,
    agents: 0,
    mismatched: 0,
    error: null,
    cleanedUp: false,
  };
  const t = performance.now();
  try {
    const report = await target.restore();
    record.records = report.published + report.present;
    record.agents = report.agents;
    record.mismatched = report.mismatched.length + report.extra.length;
    record.ok = report.ok;
  } catch (err) {
    record.error = (err as Error).message;
  }
  record.restoreSeconds = (performance.now() - t) / 1000;
  try {
    await target.cleanup();
    record.cleanedUp = true;
  } catch (err) {
    record.error = record.error ?? `cleanup failed: ${(err as Error).message}`;
  }
  record.finishedAt = now();
  await options.recorder?.record(record);
  return record;
}

/** An embedded scratch target: a new data dir under `<data-dir>/.drills/`, removed afterwards. */
export function embeddedDrillTarget(options: { blobs: BlobStore; dataDir: string; codec: EventCodec; topicPrefix?: string; masterKeys?: MasterKeySet }): (drillId: string) => Promise<DrillTarget> {
  return async (drillId) => {
    const dir = join(resolve(options.dataDir), '.drills', drillId);
    mkdirSync(dir, { recursive: true });
    return {
      where: dir,
      restore: () =>
        restoreEmbedded({
          blobs: options.blobs,
          targetDataDir: dir,
          codec: options.codec,
          ...(options.topicPrefix ? { topicPrefix: options.topicPrefix } : {}),
          ...(options.masterKeys ? { masterKeys: options.masterKeys } : {}),
        }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  };
}

/** One line for `backup status` and the drill command. */
export function describeDrill(r: DrillRecord): string {
  const rpo = r.rpoSeconds === null ? '-' : `${r.rpoSeconds.toFixed(1)} s`;
  return `${r.ok ? 'ok' : 'FAILED'} drill ${r.drillId} at ${new Date(r.startedAt).toISOString()}: ${r.agents} agents, ${r.records} records restored and verified in ${r.restoreSeconds.toFixed(2)} s, RPO ${rpo}${r.mismatched ? `, ${r.mismatched} mismatched` : ''}${r.error ? `, error: ${r.error}` : ''}${r.cleanedUp ? '' : ', scratch target NOT removed'} (${r.target})`;
}
