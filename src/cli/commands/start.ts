import { AgentStateClient } from '../../client/index.js';
import { runFleet, type FleetCounters } from '../../demo/fleet.js';
import { asString, parse, backendKind, GLOBAL_HELP, parseDuration, parsePositiveInt, setLongTimeout, UsageError } from '../args.js';
import { openBackend } from '../backend.js';
import { scanLog } from '../scan.js';
import { openProjection } from '../projection.js';
import { Projector } from '../../projector/index.js';

export const help = `agentstate start [--agents N] [--duration D] [--think-ms MS] [--seed S] [options]

Runs a demo fleet of simulated LLM agents in this process: they take tasks,
grow their memory with real text, call tools, fail and recover, and write every
step as an event. With no servers configured it uses the embedded profile
(SQLite log in --data-dir); with KAFKA_BROKERS set, the real servers.
Stops on Ctrl-C or after --duration, then prints a summary. Running it again
continues from the stored state.

  --agents N       fleet size (default 200)
  --duration D     stop after D (e.g. 10s, 2m); default: until Ctrl-C
  --think-ms MS    mean pause between one agent's actions (default 250)
  --seed S         random seed (default 1)
  --snapshot-every N  the in-process projector snapshots an agent every N events (default 25)
  --progress-every D  progress interval (default 500ms on a terminal, 5s otherwise)

${GLOBAL_HELP}`;

export async function start(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, {
    agents: { type: 'string', default: '200' },
    duration: { type: 'string' },
    'think-ms': { type: 'string', default: '250' },
    seed: { type: 'string', default: '1' },
    'progress-every': { type: 'string' },
    'snapshot-every': { type: 'string' },
  });
  if (values.help) return out(help), 0;
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const agents = parsePositiveInt(asString(values.agents) ?? '200', '--agents');
  const thinkMs = parsePositiveInt(asString(values['think-ms']) ?? '250', '--think-ms');
  const seed = parsePositiveInt(asString(values.seed) ?? '1', '--seed');
  const snapshotEvery = parsePositiveInt(asString(values['snapshot-every']) ?? '25', '--snapshot-every');
  const progressArg = asString(values['progress-every']);
  const progressMs = progressArg === undefined ? undefined : parseDuration(progressArg, '--progress-every');
  const durationMs = asString(values.duration) === undefined ? undefined : parseDuration(asString(values.duration) ?? '', '--duration');

  const backend = await openBackend({ dataDir: values['data-dir'], backend: backendKind(values.backend), env: process.env });
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const timer = durationMs === undefined ? undefined : setLongTimeout(() => abort.abort(), durationMs);
  const counters: FleetCounters = { agents: 0, created: 0, resumed: 0, events: 0, tasksCompleted: 0, failures: 0, writeErrors: 0 };
  const started = Date.now();
  let progress: NodeJS.Timeout | undefined;
  let sinks: Awaited<ReturnType<typeof openProjection>> | undefined;
  let snapshots = 0;
  try {
    const problems = await backend.setupTopics();
    if (problems.length) throw new UsageError(`topics do not match what agentstate needs: ${problems.join('; ')}`);
    err(`agentstate: ${backend.description}; loading state...`);
    // The projector runs in this process too: state store, snapshots, cache.
    sinks = await openProjection(backend, values['data-dir'], process.env);
    const makeProjector = () =>
      new Projector({
        log: backend.log,
        codec: backend.codec,
        store: sinks!.store,
        blobs: sinks!.blobs,
        ...(sinks!.cache ? { cache: sinks!.cache } : {}),
        ...(sinks!.keyring ? { keyring: sinks!.keyring } : {}),
        topicPrefix: backend.prefix,
        snapshots: { everyEvents: snapshotEvery },
      });
    const projectorStop = new AbortController();
    const projectorRun = makeProjector().run(projectorStop.signal);
    const client = await AgentStateClient.connect({ log: backend.log, codec: backend.codec, topicPrefix: backend.prefix, source: 'agentstate-demo' });
    const tty = process.stderr.isTTY === true;
    let lastEvents = 0;
    let lastAt = Date.now();
    progress = setInterval(() => {
      const now = Date.now();
      const rate = ((counters.events - lastEvents) * 1000) / Math.max(1, now - lastAt);
      lastEvents = counters.events;
      lastAt = now;
      const line = `agents ${counters.agents} (new ${counters.created}, resumed ${counters.resumed})  events ${counters.events}  ${rate.toFixed(0)} events/s  tasks done ${counters.tasksCompleted}  failures ${counters.failures}  write errors ${counters.writeErrors}  snapshots ${snapshots}  ${((now - started) / 1000).toFixed(0)}s`;
      void sinks?.store.counts().then((c) => (snapshots = c.snapshots), () => undefined);
      if (tty) process.stderr.write(`\r\x1b[2K${line}`);
      else err(line);
    }, progressMs ?? (tty ? 500 : 5000));
    await runFleet({ client, agents, thinkMs, seed, signal: abort.signal }, counters);
    await client.close();
    // Let the projector finish what the fleet wrote, so the summary is final.
    projectorStop.abort();
    await projectorRun;
    await makeProjector().runUntilCaughtUp();
    if (tty) process.stderr.write('\n');
  } finally {
    clearInterval(progress);
    timer?.clear();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  try {
    const scan = await scanLog(backend);
    const counts = await sinks!.store.counts();
    const seconds = (Date.now() - started) / 1000;
    const summary = {
      backend: backend.kind,
      location: backend.description,
      agents: scan.agents.size,
      events: scan.events,
      rejected: scan.rejected,
      snapshots: counts.snapshots,
      projectedAgents: counts.agents,
      thisRun: { events: counters.events, seconds: Math.round(seconds * 10) / 10, eventsPerSec: Math.round(counters.events / seconds), created: counters.created, resumed: counters.resumed, tasksCompleted: counters.tasksCompleted, failures: counters.failures, writeErrors: counters.writeErrors },
    };
    if (values.json) out(JSON.stringify(summary, null, 2));
    else {
      out('summary');
      out(`  backend    ${summary.location}`);
      out(`  agents     ${summary.agents}`);
      out(`  events     ${summary.events}`);
      out(`  rejected   ${summary.rejected}`);
      out(`  snapshots  ${summary.snapshots}`);
      out(`  this run   ${counters.events} events in ${summary.thisRun.seconds}s (${summary.thisRun.eventsPerSec}/s), ${counters.tasksCompleted} tasks done, ${counters.failures} failures, ${counters.writeErrors} write errors${counters.lastError ? ` (last: ${counters.lastError})` : ''}`);
    }
    return counters.writeErrors > 0 && counters.events === 0 ? 1 : 0;
  } finally {
    await sinks?.close();
    await backend.close();
  }
}
