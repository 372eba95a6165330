import { createServer, type Server } from 'node:http';
import { pino } from 'pino';
import { redactUrlsIn } from '../../util/redact.js';
import { StateManager } from '../../manager/index.js';
import { MetricsRegistry, Projector } from '../../projector/index.js';
import { asString, backendKind, GLOBAL_HELP, parse, parsePositiveInt, positionalArgs, UsageError } from '../args.js';
import { openBackend } from '../backend.js';
import { openProjection } from '../projection.js';

export const projectorHelp = `agentstate projector [--until-caught-up] [--group G] [--metrics-port N] [options]

Runs the projector: consumes the events topic in a consumer group, checks each
event with the acceptance rules (rejects go to the DLQ), and writes current
state, the event mirror, snapshots, the cache and the compacted state topic.
Offsets are committed only after every sink holds. SIGTERM/SIGINT finish the
batch in hand, commit, and exit 0.

  --until-caught-up   exit 0 once every partition is projected up to the end
                      offsets it had at start (batch rebuilds, scripts)
  --group G           consumer group (default <prefix>projector: agentstate.projector)
  --metrics-port N    serve Prometheus metrics on 127.0.0.1:N/metrics
  --snapshot-every N  snapshot an agent every N events (default 100)
  --rebuild           when the state store does not match the log (another
                      log, or an emptied one: AS_LOG_MISMATCH), drop the
                      store's projection and refold the whole log into it

Restarts and retries are logged on stderr as JSON lines (LOG_LEVEL, default warn).

${GLOBAL_HELP}`;

export const snapshotHelp = `agentstate snapshot <instanceId> [--type full|checkpoint] [--permanent] [options]

Takes a snapshot of an agent's current projected state now (compressed,
checksummed, stored in the blob store; metadata in the store) and prints it.

${GLOBAL_HELP}`;

export async function projector(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, {
    'until-caught-up': { type: 'boolean' } as never,
    group: { type: 'string' },
    'metrics-port': { type: 'string' },
    'snapshot-every': { type: 'string' },
    rebuild: { type: 'boolean' } as never,
  });
  if (values.help) return (out(projectorHelp), 0);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const port = asString(values['metrics-port']);
  const metricsPort = port === undefined ? undefined : parsePositiveInt(port, '--metrics-port');
  const every = asString(values['snapshot-every']);
  const snapshotEvery = every === undefined ? undefined : parsePositiveInt(every, '--snapshot-every');
  const dataDir = values['data-dir'];
  const backend = await openBackend({ dataDir, backend: backendKind(values.backend), env: process.env });
  const sinks = await openProjection(backend, dataDir, process.env).catch(async (e: unknown) => {
    await backend.close();
    throw e;
  });
  const metrics = new MetricsRegistry();
  let server: Server | undefined;
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const problems = await backend.setupTopics();
    if (problems.length) throw new UsageError(`topics do not match what agentstate needs: ${problems.join('; ')}`);
    const p = new Projector({
      log: backend.log,
      codec: backend.codec,
      store: sinks.store,
      blobs: sinks.blobs,
      ...(sinks.cache ? { cache: sinks.cache } : {}),
      ...(sinks.keyring ? { keyring: sinks.keyring } : {}),
      topicPrefix: backend.prefix,
      ...(asString(values.group) ? { group: asString(values.group)! } : {}),
      metrics,
      // Restarts and retries are logged (issue 12 §1: without a logger they were invisible), URLs' credentials masked.
      logger: pino({ level: process.env.LOG_LEVEL ?? 'warn', base: { service: 'projector' }, hooks: { streamWrite: redactUrlsIn } }, pino.destination(2)),
      ...(snapshotEvery !== undefined ? { snapshots: { everyEvents: snapshotEvery } } : {}),
      rebuild: values.rebuild === true,
    });
    if (metricsPort !== undefined) {
      server = createServer((req, res) => {
        if (req.url !== '/metrics') return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.render());
      }).listen(metricsPort, '127.0.0.1');
    }
    err(`agentstate projector: ${backend.description}`);
    if (values['until-caught-up']) await p.runUntilCaughtUp(abort.signal);
    else await p.run(abort.signal);
    const counts = await sinks.store.counts();
    out(values.json ? JSON.stringify(counts) : `projected: ${counts.agents} agents, ${counts.events} events, ${counts.snapshots} snapshots`);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    server?.close();
    await sinks.close();
    await backend.close();
  }
}

export async function snapshot(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, { type: { type: 'string' }, permanent: { type: 'boolean' } as never });
  if (values.help) return (out(snapshotHelp), 0);
  const [id] = positionalArgs(positionals, ['instanceId'], 'agentstate snapshot <instanceId>') as [string];
  const type = asString(values.type) ?? 'checkpoint';
  if (type !== 'full' && type !== 'checkpoint') throw new UsageError(`--type: "${type}" is not full or checkpoint`);
  const dataDir = values['data-dir'];
  const backend = await openBackend({ dataDir, backend: backendKind(values.backend), env: process.env });
  const sinks = await openProjection(backend, dataDir, process.env);
  try {
    const manager = new StateManager({
      store: sinks.store,
      blobs: sinks.blobs,
      ...(sinks.cache ? { cache: sinks.cache } : {}),
      ...(sinks.keyring ? { keyring: sinks.keyring } : {}),
    });
    const record = await manager.createSnapshot(id, { type, trigger: 'cli', ...(values.permanent ? { permanent: true } : {}) });
    out(values.json ? JSON.stringify(record, null, 2) : `snapshot ${record.snapshotId} of ${id} at version ${record.version} (${record.encoding.algorithm}, ${record.encoding.storedSize} bytes, ${record.blobKey})`);
    return 0;
  } finally {
    await sinks.close();
    await backend.close();
  }
}
