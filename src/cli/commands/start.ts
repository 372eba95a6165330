import { AgentStateClient } from '../../client/index.js';
import type { FleetCounters } from '../../demo/fleet.js';
import { runHostedFleet, type RecoverySummary } from '../../demo/hosted-fleet.js';
import type { RecoveryRecordStore } from '../../store/recovery-records.js';
import { openRecoveryStore } from './recovery.js';
import { runtimeWire } from './runtime.js';
import { asString, parse, backendKind, GLOBAL_HELP, parseDuration, parsePositiveInt, positionalArgs, setLongTimeout, UsageError, usesServers } from '../args.js';
import { openBackend } from '../backend.js';
import { scanLog } from '../scan.js';
import { openProjection } from '../projection.js';
import { Projector } from '../../projector/index.js';
import { bindLog } from '../../integrity/log-binding.js';
import { sqliteIntegrityCheck } from '../../integrity/sqlite-check.js';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { projectorGroup } from '../../log/topics.js';
import { startDemoBackup, type DemoBackup } from '../../demo/backup.js';
import { archiveOpener, openBackupBlobs } from '../backup-sources.js';
import { startAnalytics, type AnalyticsRun } from '../analytics-run.js';

export const help = `agentstate start [--agents N] [--duration D] [--think-ms MS] [--seed S] [options]

Runs a demo fleet of simulated LLM agents in this process: they take tasks,
grow their memory with real text, call tools, fail and recover, and write every
step as an event. The agents run on --hosts runtime hosts (in this process)
watched by the recovery service; --crash-after into the run one host crashes,
and its agents are detected and restarted on the others. With no servers
configured it uses the embedded profile (SQLite log in --data-dir); with
KAFKA_BROKERS set, the real servers. Stops on Ctrl-C or after --duration,
then prints a summary (with the recoveries). Running it again continues from
the stored state.

  --agents N       fleet size (default 200)
  --duration D     stop after D (e.g. 10s, 2m); default: until Ctrl-C
  --hosts N        runtime hosts (default 3)
  --crash-after D  crash one host D into the run (default 5s); not when
                   --duration leaves less than 5s after it for the recovery
  --no-crash       no host crash
  --think-ms MS    mean pause between one agent's actions (default 250)
  --seed S         random seed (default 1)
  --snapshot-every N  the in-process projector snapshots an agent every N events (default 25)
  --progress-every D  progress interval (default 500ms on a terminal, 5s otherwise)
  --rebuild        when the state store does not match the log (AS_LOG_MISMATCH:
                   another log, or an emptied one), drop the projection and refold the log

${GLOBAL_HELP}`;

interface StartOptions {
  dataDir: string;
  backend: 'auto' | 'embedded' | 'servers';
  json: boolean;
  agents: number;
  thinkMs: number;
  seed: number;
  snapshotEvery: number;
  progressMs: number | undefined;
  durationMs: number | undefined;
  rebuild: boolean;
  hosts: number;
  /** When a host crashes, ms into the run; undefined: no crash. */
  crashAfterMs: number | undefined;
}

/** Time a run keeps after the crash for detection and recovery; shorter runs have none. @default 5000 */
const CRASH_MARGIN_MS = 5000;

/** Parses and checks every flag before anything is opened; undefined for --help. */
function parseStart(argv: string[]): StartOptions | undefined {
  const { values, positionals } = parse(argv, {
    agents: { type: 'string', default: '200' },
    duration: { type: 'string' },
    'think-ms': { type: 'string', default: '250' },
    seed: { type: 'string', default: '1' },
    'progress-every': { type: 'string' },
    'snapshot-every': { type: 'string' },
    rebuild: { type: 'boolean' } as never,
    hosts: { type: 'string', default: '3' },
    'crash-after': { type: 'string', default: '5s' },
    'no-crash': { type: 'boolean' } as never,
  });
  if (values.help) return undefined;
  positionalArgs(positionals, [], 'agentstate start [options]');
  const agents = parsePositiveInt(asString(values.agents) ?? '200', '--agents');
  if (agents > MAX_AGENTS) throw new UsageError(`--agents: ${agents} is more than this demo runs in one process (at most ${MAX_AGENTS})`);
  const progressArg = asString(values['progress-every']);
  const durationArg = asString(values.duration);
  const durationMs = durationArg === undefined ? undefined : parseDuration(durationArg, '--duration');
  const crashAfter = parseDuration(asString(values['crash-after']) ?? '5s', '--crash-after');
  const hosts = parsePositiveInt(asString(values.hosts) ?? '3', '--hosts');
  const crash = (values['no-crash'] as boolean | undefined) !== true && hosts > 1 && (durationMs === undefined || durationMs >= crashAfter + CRASH_MARGIN_MS);
  return {
    dataDir: values['data-dir'],
    backend: backendKind(values.backend),
    json: values.json,
    agents,
    thinkMs: parsePositiveInt(asString(values['think-ms']) ?? '250', '--think-ms'),
    seed: parsePositiveInt(asString(values.seed) ?? '1', '--seed'),
    snapshotEvery: parsePositiveInt(asString(values['snapshot-every']) ?? '25', '--snapshot-every'),
    progressMs: progressArg === undefined ? undefined : parseDuration(progressArg, '--progress-every'),
    durationMs,
    rebuild: values.rebuild === true,
    hosts,
    crashAfterMs: crash ? crashAfter : undefined,
  };
}

/**
 * Embedded: a damaged log or store is refused before anything writes into it.
 * SQLite reads a page only when a query needs it, so without this a corrupt
 * page was met by whichever reader reached it first, a minute into the run
 * (issue 12 §3); the check reads every page once (`agentstate doctor` runs the
 * full integrity_check).
 */
function checkDataDirFiles(o: StartOptions): void {
  if (usesServers(o.backend, process.env)) return;
  for (const file of ['log.sqlite', 'store.sqlite']) {
    const path = join(resolve(o.dataDir), file);
    if (!existsSync(path)) continue;
    const c = sqliteIntegrityCheck(path, { quick: true });
    if (!c.ok) throw new Error(`${path} is damaged (${c.detail}); agentstate doctor names the damage: restore the data dir from a backup, or rebuild`);
  }
}

/** The demo's largest fleet: each agent holds its head in memory in this one process. */
const MAX_AGENTS = 100_000;

export async function start(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const o = parseStart(argv);
  if (!o) return (out(help), 0);
  checkDataDirFiles(o);
  const backend = await openBackend({ dataDir: o.dataDir, backend: o.backend, env: process.env });
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const timer = o.durationMs === undefined ? undefined : setLongTimeout(() => abort.abort(), o.durationMs);
  const counters: FleetCounters = { agents: 0, created: 0, resumed: 0, events: 0, tasksCompleted: 0, failures: 0, writeErrors: 0 };
  const started = Date.now();
  let progress: NodeJS.Timeout | undefined;
  let sinks: Awaited<ReturnType<typeof openProjection>> | undefined;
  // Everything opened below is closed in the finally, whatever fails: a failure
  // after the in-process projector started used to leave it running, and the
  // process never exited (issue 12 §1).
  const projectorStop = new AbortController();
  let projectorRun: Promise<void> | undefined;
  let backup: DemoBackup | undefined;
  let backupBlobs: Awaited<ReturnType<typeof openBackupBlobs>> | undefined;
  let analytics: AnalyticsRun | undefined;
  let records: RecoveryRecordStore | undefined;
  try {
    const problems = await backend.setupTopics();
    if (problems.length) throw new UsageError(`topics do not match what agentstate needs: ${problems.join('; ')}`);
    // The projector runs in this process too: state store, snapshots, cache. Its servers are
    // checked first, so a dead one is the only line printed (issue 12 §1).
    const opened = await openProjection(backend, o.dataDir, process.env);
    err(`agentstate: ${backend.description}; loading state...`);
    sinks = opened;
    const makeProjector = (): Projector =>
      new Projector({
        log: backend.log,
        codec: backend.codec,
        store: opened.store,
        blobs: opened.blobs,
        ...(opened.cache ? { cache: opened.cache } : {}),
        ...(opened.keyring ? { keyring: opened.keyring } : {}),
        topicPrefix: backend.prefix,
        snapshots: { everyEvents: o.snapshotEvery },
      });
    // Before the fleet writes a thing, the store must project this log (issue 12 §3).
    await bindLog(backend.log, opened.store, backend.topics.events, { rebuild: o.rebuild, group: projectorGroup(backend.prefix), ...(opened.cache ? { cache: opened.cache } : {}) });
    projectorRun = makeProjector().run(projectorStop.signal);
    // The backup service runs here too (issue 14), so the progress line shows the backup lag.
    backupBlobs = await openBackupBlobs(backend, o.dataDir, process.env);
    await backupBlobs.setup();
    backup = startDemoBackup({ log: backend.log, blobs: backupBlobs, codec: backend.codec, topicPrefix: backend.prefix, catalog: opened.store });
    // Analytics too (issue 16), on both profiles: windows and anomalies for agentstate analytics / anomalies / top.
    analytics = await startAnalytics(backend, o.dataDir, process.env);
    records = await openRecoveryStore(o.dataDir, o.backend);
    progress = startProgress(o.progressMs, counters, started, opened.store, err, backup);
    const tty = process.stderr.isTTY === true;
    const recovery = await runHostedFleet(
      {
        log: backend.log,
        codec: backend.codec,
        blobs: opened.blobs,
        wire: runtimeWire(backend),
        topicPrefix: backend.prefix,
        store: records,
        // Every host may be handed any agent, and the recovery service reads them all: fleet scope.
        connect: (name) => AgentStateClient.connect({ log: backend.log, codec: backend.codec, topicPrefix: backend.prefix, source: `agentstate-demo:${name}`, nodeId: name, scope: 'fleet' }),
        agents: o.agents,
        hosts: o.hosts,
        thinkMs: o.thinkMs,
        seed: o.seed,
        crashAfterMs: o.crashAfterMs,
        signal: abort.signal,
        note: (line) => (tty ? process.stderr.write(`\r\x1b[2K${line}\n`) : err(line)),
      },
      counters,
    );
    // Let the projector finish what the fleet wrote, so the summary is final.
    projectorStop.abort();
    await projectorRun;
    await makeProjector().runUntilCaughtUp();
    await backup.stop();
    await analytics?.stop();
    if (process.stderr.isTTY) process.stderr.write('\n');
    return await report(o, backend, opened, counters, started, recovery, out);
  } finally {
    clearInterval(progress);
    timer?.clear();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    projectorStop.abort();
    await Promise.allSettled([projectorRun, backup?.stop(), analytics?.stop()]);
    await records?.close();
    await backupBlobs?.close();
    await sinks?.close();
    await backend.close();
  }
}

function startProgress(everyMs: number | undefined, counters: FleetCounters, started: number, store: { counts(): Promise<{ snapshots: number }> }, err: (s: string) => void, backup?: DemoBackup): NodeJS.Timeout {
  const tty = process.stderr.isTTY === true;
  let lastEvents = 0;
  let lastAt = Date.now();
  let snapshots = 0;
  return setInterval(
    () => {
      const now = Date.now();
      const rate = ((counters.events - lastEvents) * 1000) / Math.max(1, now - lastAt);
      lastEvents = counters.events;
      lastAt = now;
      const line = `agents ${counters.agents} (new ${counters.created}, resumed ${counters.resumed})  events ${counters.events}  ${rate.toFixed(0)} events/s  tasks done ${counters.tasksCompleted}  failures ${counters.failures}  write errors ${counters.writeErrors}  snapshots ${snapshots}  ${backup ? `${backup.lagText()}  ` : ''}${((now - started) / 1000).toFixed(0)}s`;
      void store.counts().then(
        (c) => (snapshots = c.snapshots),
        () => undefined,
      );
      if (tty) process.stderr.write(`\r\x1b[2K${line}`);
      else err(line);
    },
    everyMs ?? (tty ? 500 : 5000),
  );
}

async function report(
  o: StartOptions,
  backend: Awaited<ReturnType<typeof openBackend>>,
  sinks: Awaited<ReturnType<typeof openProjection>>,
  counters: FleetCounters,
  started: number,
  recovery: RecoverySummary,
  out: (s: string) => void,
): Promise<number> {
  const scan = await scanLog(backend, { archive: archiveOpener(backend, o.dataDir, process.env) });
  const counts = await sinks.store.counts();
  const seconds = (Date.now() - started) / 1000;
  const summary = {
    backend: backend.kind,
    location: backend.description,
    agents: scan.agents.size,
    events: scan.events,
    rejected: scan.rejected,
    snapshots: counts.snapshots,
    projectedAgents: counts.agents,
    thisRun: {
      events: counters.events,
      seconds: Math.round(seconds * 10) / 10,
      eventsPerSec: Math.round(counters.events / seconds),
      created: counters.created,
      resumed: counters.resumed,
      tasksCompleted: counters.tasksCompleted,
      failures: counters.failures,
      writeErrors: counters.writeErrors,
    },
    recovery,
  };
  if (o.json) out(JSON.stringify(summary, null, 2));
  else {
    out('summary');
    out(`  backend    ${summary.location}`);
    out(`  agents     ${summary.agents}`);
    out(`  events     ${summary.events}`);
    out(`  rejected   ${summary.rejected}`);
    out(`  snapshots  ${summary.snapshots}`);
    out(
      `  this run   ${counters.events} events in ${summary.thisRun.seconds}s (${summary.thisRun.eventsPerSec}/s), ${counters.tasksCompleted} tasks done, ${counters.failures} failures, ${counters.writeErrors} write errors${counters.lastError ? ` (last: ${counters.lastError})` : ''}`,
    );
    for (const line of recoveryLines(recovery)) out(line);
  }
  return counters.writeErrors > 0 && counters.events === 0 ? 1 : 0;
}

/** The recovery part of the text summary. */
function recoveryLines(r: RecoverySummary): string[] {
  const kv = (m: Record<string, number>): string =>
    Object.entries(m)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none';
  const secs = (x: { p50: number; max: number } | null): string => (x ? `p50 ${(x.p50 / 1000).toFixed(2)}s, max ${(x.max / 1000).toFixed(2)}s` : '-');
  return [
    `  hosts      ${r.hosts.join(', ')}${r.crash ? `; ${r.crash.nodeId} crashed at ${r.crash.atSeconds}s with ${r.crash.agents} agents` : '; no host crashed'}`,
    `  recovery   ${kv(r.byKind)} detected; ${kv(r.byStatus)}; ${r.agentsRecovered} agents recovered`,
    `             detection ${secs(r.detectMs)}; serving ${secs(r.servingMs)} (from the host's last heartbeat)`,
    ...r.failures.slice(0, 5).map((f) => `             ${f.status} ${f.recoveryId}: ${f.reason}`),
    ...(r.failures.length > 5 ? [`             ... ${r.failures.length - 5} more (agentstate recovery list)`] : []),
  ];
}
