import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { backupStatus, verifyBackup, type ExpectedHead, type VerifyReport } from '../../backup/index.js';
import { FsBlobStore } from '../../blob/fs.js';
import type { BlobStore } from '../../blob/port.js';
import { S3BlobStore } from '../../blob/s3.js';
import { backendKind, GLOBAL_HELP, parse, positionalArgs, UsageError } from '../args.js';
import { openBackend, type Backend } from '../backend.js';
import { MasterKeySet } from '../../codec/master-keys.js';
import { openProjection, type Projection } from '../projection.js';
import { readEnv } from '../../config/env.js';
import { ENV_SETTING_NAMES, probeServers } from '../../sdk/probe.js';

/** The state store + keyring of the source, when the environment names master keys (an encrypted backup needs them). */
export async function openKeys(backend: Backend, dataDir: string, env: NodeJS.ProcessEnv): Promise<Projection | undefined> {
  return (await MasterKeySet.fromEnv(env)) ? openProjection(backend, dataDir, env) : undefined;
}

export const backupHelp = `agentstate backup status | verify [--deep] [options]

  status          per partition: segments archived, next offset not in the
                  backup, lag in records and seconds (the RPO right now)
  verify          reads every segment of the backup: stored and frame
                  checksums, the manifest hash chain, contiguity of offsets
                  and of each agent's versions; a missing, truncated or
                  tampered segment or manifest is named with its offsets.
                  Exit 1 when anything is damaged.
  verify --deep   also folds every agent's events with the reducer and
                  compares version + checksum with the state store (when
                  there is one)

The backup lives in the blob store: <data-dir>/blobs/backup/ embedded, or
S3_BUCKET under the topic prefix on servers (S3_ENDPOINT, S3_BUCKET,
S3_ACCESS_KEY, S3_SECRET_KEY). See docs/backup.md.

${GLOBAL_HELP}`;

/**
 * The blob store the backup lives in, for a backend. On servers S3 is checked
 * first, within AGENTSTATE_CONNECT_TIMEOUT_MS (issue 12 §1: `backup status`
 * and `verify` waited on the SDK's retries with S3 down).
 * @throws AgentStateError AS_UNAVAILABLE naming S3 and S3_ENDPOINT
 */
export async function openBackupBlobs(backend: Backend, dataDir: string, env: NodeJS.ProcessEnv): Promise<BlobStore> {
  if (backend.kind === 'embedded') return new FsBlobStore({ dir: join(resolve(dataDir), 'blobs') });
  if (!env.S3_ENDPOINT || !env.S3_BUCKET) throw new UsageError('the servers backend needs S3_ENDPOINT and S3_BUCKET for the backup');
  const config = readEnv(env);
  await probeServers({ s3: config.s3 }, ENV_SETTING_NAMES, config.connectTimeoutMs);
  return new S3BlobStore({
    endpoint: env.S3_ENDPOINT,
    bucket: env.S3_BUCKET,
    ...(env.S3_ACCESS_KEY ? { accessKeyId: env.S3_ACCESS_KEY } : {}),
    ...(env.S3_SECRET_KEY ? { secretAccessKey: env.S3_SECRET_KEY } : {}),
    prefix: backend.prefix,
    createBucket: false,
  });
}

function printVerify(report: VerifyReport, out: (s: string) => void): void {
  for (const p of report.partitions) out(`partition ${p.partition}: ${p.segments} segments, ${p.records} records, offsets ${p.firstOffset ?? '-'}..${p.nextOffset === null ? '-' : BigInt(p.nextOffset) - 1n}, ${p.bytes} bytes`);
  for (const p of report.problems) out(`DAMAGED partition ${p.partition} offsets ${p.firstOffset ?? '?'}-${p.lastOffset ?? '?'}: ${p.kind}: ${p.detail}`);
  for (const g of report.versionGaps.slice(0, 20)) out(`version gap: ${g.instanceId} jumps from ${g.from} to ${g.to} at partition ${g.partition} offset ${g.offset}`);
  if (report.shredded) out(`${report.shredded} record(s) of crypto-shredded agents (unreadable on purpose)`);
  if (report.locked) out(`${report.locked} encrypted record(s) checked by checksum only (no master keys in the environment)`);
  if (report.unreferenced.length) out(`${report.unreferenced.length} segment object(s) named by no manifest (a crash between segment and manifest; harmless)`);
  if (report.deep) {
    const d = report.deep;
    const rejected = Object.entries(d.rejected).map(([k, v]) => `${k} ${v}`).join(', ');
    out(`deep: ${d.folded} agents folded, ${d.matched} match the store, ${d.ahead} ahead in the store (not archived yet), ${d.mismatched.length} differ${rejected ? `; rejected events: ${rejected}` : ''}`);
    for (const m of d.mismatched) out(`MISMATCH ${m.instanceId}: backup v${m.backup.version} ${m.backup.checksum}, store v${m.expected.version} ${m.expected.checksum}`);
  }
  out(report.ok ? `backup ok: ${report.segments} segments, ${report.records} records, ${report.agents} agents` : `backup DAMAGED: ${report.problems.length} problem(s)${report.deep?.mismatched.length ? `, ${report.deep.mismatched.length} mismatched agent(s)` : ''}`);
}

export async function backup(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, { deep: { type: 'boolean' } as never });
  if (values.help) return out(backupHelp), 0;
  const [sub] = positionalArgs(positionals, ['status|verify'], 'agentstate backup status|verify [--deep]');
  if (sub !== 'status' && sub !== 'verify') throw new UsageError(`unknown subcommand "${sub}" (status or verify)`);
  if (sub === 'status' && values.deep) throw new UsageError('--deep is an option of verify');
  const dataDir = values['data-dir'];
  const backend = await openBackend({ dataDir, backend: backendKind(values.backend), env: process.env, readOnly: true });
  const blobs = await openBackupBlobs(backend, dataDir, process.env).catch(async (e: unknown) => {
    await backend.close();
    throw e;
  });
  try {
    if (sub === 'status') {
      const rows = await backupStatus({ blobs, log: backend.log, topicPrefix: backend.prefix });
      if (values.json) out(JSON.stringify(rows, null, 2));
      else {
        out('partition  segments  archived-next  end-offset  lag-records  lag-seconds  last-segment');
        for (const r of rows) {
          out(`${String(r.partition).padStart(9)}  ${String(r.segments).padStart(8)}  ${String(r.archivedNext ?? '-').padStart(13)}  ${r.endOffset.padStart(10)}  ${r.lagRecords.padStart(11)}  ${r.lagSeconds.toFixed(1).padStart(11)}  ${r.lastSegmentAt ? new Date(r.lastSegmentAt).toISOString() : '-'}`);
        }
      }
      return 0;
    }
    let expected: ((ids: string[]) => Promise<Map<string, ExpectedHead>>) | undefined;
    const keys = await openKeys(backend, dataDir, process.env);
    let closeStore: (() => Promise<void>) | undefined = keys ? () => keys.close() : undefined;
    const hasStore = backend.kind === 'embedded' ? existsSync(join(resolve(dataDir), 'store.sqlite')) : !!process.env.MONGODB_URI;
    if (values.deep && hasStore) {
      const sinks = keys ?? (await openProjection(backend, dataDir, process.env));
      closeStore = () => sinks.close();
      expected = async (ids) => {
        const out = new Map<string, ExpectedHead>();
        for (let i = 0; i < ids.length; i += 500) for (const [id, s] of await sinks.store.getStates(ids.slice(i, i + 500))) out.set(id, { version: s.version, checksum: s.checksum });
        return out;
      };
    }
    try {
      const partitions = Object.keys(await backend.log.endOffsets(backend.topics.events)).length;
      const report = await verifyBackup({ blobs, codec: backend.codec, deep: !!values.deep, ...(expected ? { expected } : {}), ...(keys?.keyring ? { keyring: keys.keyring } : {}), partitions });
      if (values.json) out(JSON.stringify(report, null, 2));
      else printVerify(report, out);
      return report.ok ? 0 : 1;
    } finally {
      await closeStore?.();
    }
  } finally {
    await blobs.close();
    await backend.close();
  }
}
