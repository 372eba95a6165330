import { resolve } from 'node:path';
import { ENV_SETTING_NAMES, probeServers } from '../../sdk/probe.js';
import { AgentStateClient } from '../../client/index.js';
import type { Keyring } from '../../codec/keyring.js';
import { diff, type JsonValue } from '../../domain/index.js';
import { agentStateFromBackup, backupTotals, restoreEmbedded, restoreInto, SchemaRemapper, type RegistryRestoreReport, type RestoreProgress, type RestoreReport } from '../../backup/index.js';
import { RegistryCodec } from '../../codec/registry.js';
import { valueSubject } from '../../codec/schemas.js';
import { loadMasterKeys } from '../../config/keys.js';
import { MasterKeySet } from '../../codec/master-keys.js';
import { readEnv, requireServers } from '../../config/env.js';
import { openLog, openSinks } from '../../sdk/wiring.js';
import { asString, backendKind, GLOBAL_HELP, parse, parsePositiveInt, positionalArgs, UsageError } from '../args.js';
import { openBackend } from '../backend.js';
import { openBackupBlobs, openKeyringReadOnly, openKeys } from '../backup-sources.js';

export const restoreHelp = `agentstate restore --to latest|<ISO time> [--agents id,...] [--target-prefix P] [--target-database D] [options]
agentstate restore --to latest|<ISO time> --target-data-dir DIR [options]
agentstate restore --agent <id> --to <ISO time> [options]

Restores the backup onto empty servers (Kafka, registry, MongoDB, S3 of the
environment), or into a new embedded data dir with --target-data-dir:
recreates the topics (the backup's partition count) and the registry
schemas, republishes the archived events (keys, headers, timestamps intact,
per-agent order kept), runs the projector until it has caught up, then checks
every agent's version and checksum against the fold of the backup. Progress
(records, MB, ETA) goes to stderr. Re-running after an interruption (even
kill -9) continues where it stopped and never duplicates a record. A damaged
backup stops the restore at the damage. Exit 1 when verification fails.

  --to T                  latest, or an ISO 8601 time (e.g. 2026-12-01T10:00:00Z):
                          each agent as it was at T (its events stamped at or before T)
  --agents a,b            restore only these agents
  --target-prefix P       topic prefix (and S3 key prefix) of the restored system
                          (default: AGENTSTATE_TOPIC_PREFIX, the backup's)
  --target-database D     MongoDB database of the restored system
                          (default: AGENTSTATE_MONGO_DATABASE, or agentstate)
  --target-data-dir DIR   restore into an embedded data dir instead
  --replication-factor N  replication factor of the topics created (default: the
                          backup's recorded factor; one above the target cluster's
                          broker count is lowered to it, and said)
  --allow-gap             cross a damaged part of the backup (missing, truncated or
                          tampered segment or manifest) instead of stopping at it:
                          each agent that lost events there stops at its last
                          contiguous version, and is named
  --agent <id>            in place, on the live system: moves one agent to its
                          state at --to as read from the backup, by appending a
                          state_rolled_back event (history stays immutable;
                          takes ownership of the agent, epoch + 1)

The backup is read from the source: S3_BUCKET under AGENTSTATE_TOPIC_PREFIX on
servers, <data-dir>/blobs/backup/ embedded. See docs/backup.md.

${GLOBAL_HELP}`;

const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

function parseTo(text: string | undefined): number | undefined {
  if (text === undefined) throw new UsageError('--to is required (latest or an ISO 8601 time)');
  if (text === 'latest') return undefined;
  const to = ISO.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(to)) throw new UsageError(`--to: "${text}" is neither latest nor an ISO 8601 time`);
  return to;
}

/** A progress line every second: records (and share of the total), MB, rate, ETA. */
function progressPrinter(total: { records: number; bytes: number }, err: (s: string) => void): (p: RestoreProgress) => void {
  const byPartition = new Map<number, RestoreProgress>();
  const started = Date.now();
  let last = 0;
  return (p) => {
    byPartition.set(p.partition, p);
    const now = Date.now();
    if (now - last < 1000) return;
    last = now;
    let published = 0;
    let present = 0;
    let bytes = 0;
    for (const q of byPartition.values()) ((published += q.published), (present += q.present), (bytes += q.bytes));
    const done = published + present;
    const rate = published / Math.max(0.001, (now - started) / 1000);
    const eta = rate > 0 && total.records > done ? `${Math.ceil((total.records - done) / rate)} s` : '-';
    const pct = total.records > 0 ? ` of ${total.records} (${Math.min(100, (100 * done) / total.records).toFixed(0)}%)` : '';
    err(`restore: ${done} records${pct}, ${(bytes / 1e6).toFixed(1)} MB, ${Math.round(rate)} records/s, ETA ${eta}${present ? ` (${present} already there)` : ''}`);
  };
}

function printReport(report: RestoreReport, where: string, out: (s: string) => void): void {
  out(`restored into ${where}: ${report.published} records republished (${report.present} were already there), ${report.agents} agents`);
  for (const c of report.checkpoints) out(`partition ${c.partition}: started at checkpoint ${c.key} (older segments retired by the backup retention), records from offset ${c.nextOffset}`);
  if (report.seeded) out(`${report.seeded} agent state(s) written from checkpoints before the projector`);
  out(`times: republish ${report.seconds.republish.toFixed(2)} s, project ${report.seconds.project.toFixed(2)} s, verify ${report.seconds.verify.toFixed(2)} s`);
  for (const m of report.mismatched.slice(0, 20))
    out(`MISMATCH ${m.instanceId}: backup v${m.expected.version} ${m.expected.checksum}, restored ${m.restored ? `v${m.restored.version} ${m.restored.checksum}` : 'missing'}`);
  if (report.extra.length) out(`${report.extra.length} agent(s) in the target that the backup does not have: ${report.extra.slice(0, 10).join(', ')}`);
  if (report.keys)
    out(
      `data keys: ${report.keys.restored} restored, ${report.keys.shreddedAgents} shredded agent(s) restored as tombstones${report.keys.withheld ? ` (${report.keys.withheld} wrapped key(s) of shredded agents left out)` : ''}`,
    );
  if (report.shredded) out(`${report.shredded} record(s) of crypto-shredded agents left out`);
  const created = report.topics.filter((t) => t.status === 'created').length;
  out(`topics: ${created} created with the backup's configurations${report.topics.length > created ? `, ${report.topics.length - created} already there` : ''}`);
  for (const t of report.topics) if (t.status === 'mismatch') out(`TOPIC ${t.name} differs from the backup's: ${t.problems.join('; ')}`);
  for (const r of report.replication) out(`REPLICATION ${r.topic}: created with factor ${r.used} (the backup recorded ${r.recorded}${r.used < r.recorded ? '; fewer copies than the source kept' : ''})`);
  if (report.registry)
    out(
      `registry: ${report.registry.subjects} subject(s), ${report.registry.versions} version(s) recreated; schema ids ${report.registry.idsKept} kept, ${report.registry.idsMapped} renumbered by the target registry (values rewritten)`,
    );
  const sn = report.snapshots;
  out(`snapshot catalog: ${sn.restored} restored (${sn.referenced} bodies referenced in place, ${sn.copied} copied), ${sn.present} already there${sn.shredded ? `, ${sn.shredded} of shredded agents left out` : ''}`);
  for (const m of sn.missing.slice(0, 20)) out(`SNAPSHOT LEFT OUT ${m}`);
  for (const p of report.problems) out(`CROSSED DAMAGE partition ${p.partition} offsets ${p.firstOffset ?? '?'}-${p.lastOffset ?? '?'}: ${p.kind}: ${p.detail}`);
  for (const g of report.gapAgents) out(`STOPPED ${g.instanceId} at version ${g.version} (the backup's next is ${g.nextInBackup}, past the damage)`);
  out(report.ok ? `verified: ${report.checked} agents, version and checksum equal the backup` : 'VERIFY FAILED');
}

export async function restore(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, {
    to: { type: 'string' },
    agents: { type: 'string' },
    'target-data-dir': { type: 'string' },
    'target-prefix': { type: 'string' },
    'target-database': { type: 'string' },
    agent: { type: 'string' },
    'allow-gap': { type: 'boolean' } as never,
    'replication-factor': { type: 'string' },
  });
  if (values.help) return (out(restoreHelp), 0);
  positionalArgs(positionals, [], 'agentstate restore --to latest|<time> [--target-prefix P] [--target-database D] [--target-data-dir DIR]');
  const to = parseTo(asString(values.to));
  const agentsText = asString(values.agents);
  const agents =
    agentsText === undefined
      ? undefined
      : new Set(
          agentsText
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        );
  if (agents && agents.size === 0) throw new UsageError('--agents: no agent id given');
  const agent = asString(values.agent);
  const rfText = asString(values['replication-factor']);
  const replicationFactor = rfText === undefined ? undefined : parsePositiveInt(rfText, '--replication-factor');
  const targetDir = asString(values['target-data-dir']);
  const targetPrefix = asString(values['target-prefix']);
  const targetDatabase = asString(values['target-database']);
  if (targetDir !== undefined && (targetPrefix !== undefined || targetDatabase !== undefined))
    throw new UsageError('--target-data-dir restores into an embedded data dir; --target-prefix and --target-database are for servers');
  if (targetPrefix !== undefined && !/^[A-Za-z0-9._-]*$/.test(targetPrefix)) throw new UsageError(`--target-prefix: "${targetPrefix}" may only hold letters, digits, '.', '_' and '-'`);
  if (agent !== undefined && (agents || targetDir !== undefined || targetPrefix !== undefined || targetDatabase !== undefined || replicationFactor !== undefined))
    throw new UsageError('--agent restores one agent in place; it takes no --agents or --target-* option');
  const dataDir = values['data-dir'];
  if (targetDir !== undefined && resolve(targetDir) === resolve(dataDir)) throw new UsageError('--target-data-dir must not be the source --data-dir');
  // Only the in-place restore (--agent) writes to the source; the others must not create anything there.
  const backend = await openBackend({ dataDir, backend: backendKind(values.backend), env: process.env, readOnly: agent === undefined });
  if (agent === undefined && targetDir === undefined && backend.kind !== 'servers') {
    await backend.close();
    throw new UsageError('restoring onto servers needs them (KAFKA_BROKERS, MONGODB_URI, S3_ENDPOINT, S3_BUCKET); on the embedded profile use --target-data-dir');
  }
  const blobs = await openBackupBlobs(backend, dataDir, process.env).catch(async (e: unknown) => {
    await backend.close();
    throw e;
  });
  // Only the in-place restore writes to the source: the others read its keys read-only (a read-only data dir, issue 12 §7).
  const keys = await (agent === undefined ? openKeyringReadOnly : openKeys)(backend, dataDir, process.env).catch(async (e: unknown) => {
    await Promise.allSettled([blobs.close(), backend.close()]);
    throw e;
  });
  try {
    if (agent !== undefined) return await restoreAgentInPlace(backend, blobs, agent, to, keys?.keyring, values.json, out);
    const totals = await backupTotals(blobs, to);
    const onProgress = progressPrinter(totals, err);
    const common = {
      ...(to !== undefined ? { to } : {}),
      ...(agents ? { agents } : {}),
      ...(values['allow-gap'] ? { allowGap: true } : {}),
      ...(replicationFactor !== undefined ? { replicationFactor } : {}),
      ...(keys?.keyring ? { keyring: keys.keyring } : {}),
      onProgress,
    };
    let report: RestoreReport;
    let where: string;
    if (targetDir !== undefined) {
      where = resolve(targetDir);
      const masterKeys = await MasterKeySet.fromEnv(process.env);
      report = await restoreEmbedded({ blobs, targetDataDir: targetDir, codec: backend.codec, topicPrefix: backend.prefix, ...common, ...(masterKeys ? { masterKeys } : {}) });
    } else {
      ({ report, where } = await restoreOntoServers(process.env, backend.prefix, targetPrefix ?? backend.prefix, targetDatabase, blobs, common));
    }
    if (values.json) out(JSON.stringify(report, null, 2));
    else printReport(report, where, out);
    return report.ok ? 0 : 1;
  } finally {
    await keys?.close();
    await blobs.close();
    await backend.close();
  }
}

/**
 * `restore --agent <id> --to <time>`: the agent's state at that time from the
 * backup, written as a new `state_rolled_back` event whose changeset moves the
 * live state there (DESIGN.md Invariant 5). Exit 1 when the new checksum
 * differs from the backup's.
 */
async function restoreAgentInPlace(
  backend: Awaited<ReturnType<typeof openBackend>>,
  blobs: Awaited<ReturnType<typeof openBackupBlobs>>,
  id: string,
  to: number | undefined,
  keyring: Keyring | undefined,
  json: boolean,
  out: (s: string) => void,
): Promise<number> {
  const target = await agentStateFromBackup(blobs, backend.codec, id, to ?? Number.MAX_SAFE_INTEGER, keyring);
  const client = await AgentStateClient.connect({ log: backend.log, codec: backend.codec, topicPrefix: backend.prefix, source: 'agentstate-restore' });
  try {
    const head = await client.acquire(id);
    const changes = diff(head.state as unknown as JsonValue, target.state as unknown as JsonValue);
    const restoredTo = to === undefined ? 'latest' : new Date(to).toISOString();
    const r = await client.updateState(id, changes, { eventType: 'state_rolled_back', metadata: { restoredTo, restoredVersion: String(target.version), from: 'backup' } });
    const report = { instanceId: id, restoredTo, backupVersion: target.version, backupChecksum: target.checksum, newVersion: r.newVersion, checksum: r.checksum, sameAsBackup: r.checksum === target.checksum };
    out(
      json
        ? JSON.stringify(report, null, 2)
        : `restored ${id} in place to its state at ${restoredTo} (version ${target.version} in the backup): new version ${r.newVersion}, checksum ${r.checksum}${report.sameAsBackup ? '' : ' DIFFERS from the backup'}`,
    );
    return report.sameAsBackup ? 0 : 1;
  } finally {
    await client.close();
  }
}

/**
 * The servers of the environment as the target: the registry's schemas are
 * registered first (in the source's order, so BACKWARD holds), then the
 * target's codec, topics, store, S3 prefix and cache are opened.
 */
export async function restoreOntoServers(
  env: NodeJS.ProcessEnv,
  sourcePrefix: string,
  prefix: string,
  database: string | undefined,
  blobs: Awaited<ReturnType<typeof openBackupBlobs>>,
  common: Omit<Parameters<typeof restoreInto>[0], 'blobs' | 'target'>,
): Promise<{ report: RestoreReport; where: string }> {
  const config = readEnv(env);
  const servers = requireServers(config);
  const mongo = { ...servers.mongo, ...(database !== undefined ? { database } : {}) };
  // Every target server within AGENTSTATE_CONNECT_TIMEOUT_MS, or one line naming it (issue 12 §1).
  await probeServers({ kafka: servers.kafka, mongo, s3: servers.s3, redisUrl: servers.redisUrl }, ENV_SETTING_NAMES, config.connectTimeoutMs);
  let mapValue: ((v: Buffer) => Promise<Buffer>) | undefined;
  let registryReport: RegistryRestoreReport | undefined;
  const registryUrl = servers.kafka.schemaRegistryUrl;
  if (registryUrl) {
    const registry = new RegistryCodec({ url: registryUrl });
    // Ids the backup does not hold (a backup older than the schema archive) are looked up in the
    // registry of the environment: right when it survived the disaster (docs/backup.md).
    const remapper = new SchemaRemapper({ blobs, target: registry, subject: valueSubject(`${prefix}events`), targetPrefix: prefix, fallback: registry });
    registryReport = await remapper.prepare();
    mapValue = remapper.map;
  }
  const target = await openLog({ kind: 'servers', kafka: servers.kafka, topicPrefix: prefix, clientId: 'agentstate-restore' });
  const sinks = await openSinks({ kind: 'servers', mongo, s3: servers.s3, redisUrl: servers.redisUrl, topicPrefix: prefix, masterKeys: await loadMasterKeys(config.masterKeys) }).catch(async (e: unknown) => {
    await target.close();
    throw e;
  });
  try {
    const report = await restoreInto({
      blobs,
      target: {
        log: target.log,
        codec: target.codec,
        store: sinks.store,
        blobs: sinks.blobs,
        ...(sinks.cache ? { cache: sinks.cache } : {}),
        ...(sinks.dataKeys && sinks.keyring ? { dataKeys: sinks.dataKeys, keyring: sinks.keyring } : {}),
        topicPrefix: prefix,
      },
      ...(mapValue ? { mapValue } : {}),
      ...common,
    });
    return {
      report: { ...report, ...(registryReport ? { registry: registryReport } : {}) },
      where: `${target.description}, topics ${prefix}*, MongoDB database ${mongo.database}${prefix === sourcePrefix ? '' : ` (backup of ${sourcePrefix}*)`}`,
    };
  } finally {
    await Promise.allSettled([sinks.close(), target.close()]);
  }
}
