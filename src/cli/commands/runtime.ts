import { AccessRecorder } from '../../telemetry/access.js';
import { pino } from 'pino';
import { AgentStateClient } from '../../client/index.js';
import { readEnv } from '../../config/env.js';
import { counterAgentFactory, demoAgentFactory } from '../../demo/hosted.js';
import type { FleetCounters } from '../../demo/fleet.js';
import { RuntimeHost, type RuntimeWire } from '../../runtime/index.js';
import { openRuntimeWire } from '../../sdk/recovery-wiring.js';
import { asString, backendKind, GLOBAL_HELP, parse, parsePositiveInt, positionalArgs, UsageError } from '../args.js';
import { openBackend, type Backend } from '../backend.js';

export const help = `agentstate runtime --node-id N [--agents ID,...] [--create TYPE] [options]

Runs a runtime host (issue 15): it heartbeats the agents it hosts on
<prefix>heartbeats every --heartbeat-ms, obeys start/stop/freeze commands
addressed to its node id on <prefix>control (the recovery service sends them),
and takes agents over with epoch + 1. Agent types it can run: researcher and
assistant (the demo's simulated LLM agents) and counter (a load agent: each
step adds one to memory.count). Stops on SIGTERM/SIGINT: every agent finishes
its step, flushes and is released.

  --node-id N        this host's node id (required)
  --region R, --data-center D, --host H   placement (recovery prefers the same region)
  --agents ID,...    agents to take over at start (else it waits for commands)
  --create TYPE      create the --agents that do not exist yet, with this agentType
  --heartbeat-ms MS  heartbeat interval (default 1000)
  --step-ms MS       pause between a counter agent's writes (default 100)
  --print-acks       print "ack <id> <count> <version>" per acknowledged counter write

${GLOBAL_HELP}`;

export async function runtime(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, {
    'node-id': { type: 'string' },
    region: { type: 'string' },
    'data-center': { type: 'string' },
    host: { type: 'string' },
    agents: { type: 'string' },
    create: { type: 'string' },
    'heartbeat-ms': { type: 'string', default: '1000' },
    'step-ms': { type: 'string', default: '100' },
    'print-acks': { type: 'boolean' },
  });
  if (values.help) return (out(help), 0);
  positionalArgs(positionals, [], 'agentstate runtime --node-id N [options]');
  const nodeId = asString(values['node-id']);
  if (!nodeId) throw new UsageError('--node-id is required');
  const agents = (asString(values.agents) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const createType = asString(values.create);
  const heartbeatMs = parsePositiveInt(asString(values['heartbeat-ms']) ?? '1000', '--heartbeat-ms');
  const stepMs = parsePositiveInt(asString(values['step-ms']) ?? '100', '--step-ms');
  const printAcks = values['print-acks'] === true;

  const backend = await openBackend({ dataDir: values['data-dir'], backend: backendKind(values.backend), env: process.env });
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn', base: { service: 'runtime', nodeId } }, pino.destination(2));
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let client: AgentStateClient | undefined;
  let host: RuntimeHost | undefined;
  try {
    const problems = await backend.setupTopics();
    if (problems.length) throw new UsageError(`topics do not match what agentstate needs: ${problems.join('; ')}`);
    // Its writes' processing times ride on the host's heartbeats (docs/analytics.md, Access figures).
    const access = new AccessRecorder();
    client = await AgentStateClient.connect({ log: backend.log, codec: backend.codec, topicPrefix: backend.prefix, source: `agentstate-runtime:${nodeId}`, nodeId, logger, scope: 'fleet', access }); // a start command's superseded check reads heads it does not own
    const counters: FleetCounters = { agents: 0, created: 0, resumed: 0, events: 0, tasksCompleted: 0, failures: 0, writeErrors: 0 };
    const demo = demoAgentFactory({ counters });
    host = new RuntimeHost({
      nodeId,
      ...(asString(values.host) ? { host: asString(values.host)! } : {}),
      ...(asString(values['data-center']) ? { dataCenter: asString(values['data-center'])! } : {}),
      ...(asString(values.region) ? { region: asString(values.region)! } : {}),
      log: backend.log,
      client,
      wire: runtimeWire(backend),
      topicPrefix: backend.prefix,
      heartbeatIntervalMs: heartbeatMs,
      access,
      factories: {
        researcher: demo,
        assistant: demo,
        counter: counterAgentFactory({ intervalMs: stepMs, ...(printAcks ? { onAck: (id, count, version) => out(`ack ${id} ${count} ${version}`) } : {}) }),
      },
      onAgentStopped: (id, reason) => out(`${reason} ${id}`),
      logger,
    });
    // Concurrently: the writer batches the appends of many agents into one
    // request, so 20 agents start in about the time of one, not 20 round trips.
    if (createType) {
      await Promise.all(agents.filter((id) => !client!.getState(id)).map((id) => client!.createAgent(id, { agentType: createType, status: 'idle' }).catch(() => undefined)));
    }
    await host.start();
    await Promise.all(
      agents.map(async (id) => {
        const r = await host!.startAgent(id);
        if (!r.ok) err(`agentstate runtime: ${id}: ${r.reason}: ${r.detail}`);
      }),
    );
    out(`ready ${nodeId} ${host.hosted().length}`);
    await new Promise<void>((resolve) => (abort.signal.aborted ? resolve() : abort.signal.addEventListener('abort', () => resolve(), { once: true })));
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await host?.close();
    await client?.close();
    await backend.close();
  }
}

/** Avro with the registry on servers that have one (DESIGN.md Wire format), else JSON. */
export function runtimeWire(backend: Backend): RuntimeWire {
  return openRuntimeWire(backend.kind === 'servers' ? readEnv(process.env).kafka?.schemaRegistryUrl : undefined, backend.topics);
}
