import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { AgentStateClient } from '../client/index.js';
import type { BlobSource } from '../codec/changeset-blob.js';
import type { EventCodec } from '../codec/event-codec.js';
import type { EventLog } from '../log/port.js';
import { RecoveryService } from '../recovery/index.js';
import { RuntimeHost, type AgentFactory, type RuntimeWire } from '../runtime/index.js';
import type { RecoveryRecord, RecoveryRecordStore } from '../store/recovery-records.js';
import { ensureAgents, type FleetCounters } from './fleet.js';
import { demoAgentFactory } from './hosted.js';

export interface HostedFleetOptions {
  log: EventLog;
  codec: EventCodec;
  /** The deployment's blob store: the recovery service's restore-point searches fetch claim-checked changesets from it. @default none */
  blobs?: BlobSource;
  wire: RuntimeWire;
  topicPrefix: string;
  /** Where the recovery service keeps its records (the caller owns it). */
  store: RecoveryRecordStore;
  /** A writer with scope 'fleet' for each host and for the recovery service; closed here. */
  connect: (name: string) => Promise<AgentStateClient>;
  agents: number;
  /** Runtime hosts in this process, `demo-host-1`..`demo-host-N`. */
  hosts: number;
  thinkMs: number;
  seed: number;
  /** Crash a host (RuntimeHost.abandon: heartbeats and agents stop, nothing released) this long after the fleet starts; undefined: no crash. */
  crashAfterMs: number | undefined;
  signal: AbortSignal;
  /** Progress lines (the host crash, detections, agents back). */
  note: (line: string) => void;
}

/** What the recovery did during a run (the demo's summary). */
export interface RecoverySummary {
  hosts: string[];
  crash: { nodeId: string; agents: number; atSeconds: number } | null;
  /** Records of this run by failure type and by status. */
  byKind: Record<string, number>;
  byStatus: Record<string, number>;
  /** Distinct agents whose recovery succeeded. */
  agentsRecovered: number;
  /** Last heartbeat → detection and last heartbeat → serving, ms, over succeeded records. */
  detectMs: { p50: number; max: number } | null;
  servingMs: { p50: number; max: number } | null;
  /** Records that did not succeed, with why. */
  failures: { recoveryId: string; status: string; reason: string }[];
}

/** How long the end of a run waits for recoveries still in hand. @default 20000 */
const SETTLE_MS = 20_000;

/**
 * The demo fleet on runtime hosts (issue 15): `hosts` in-process
 * RuntimeHosts run the simulated LLM agents (spread round-robin), the
 * recovery service watches their heartbeats, and `crashAfterMs` into the run
 * one host crashes: its agents are detected, restarted on the survivors and
 * recorded. Runs until `signal` aborts, then waits for recoveries in hand,
 * stops the hosts (a planned stop: each agent finishes its step and is
 * released) and returns what the recovery records of this run say.
 */
export async function runHostedFleet(o: HostedFleetOptions, counters: FleetCounters): Promise<RecoverySummary> {
  const startedAt = Date.now();
  setMaxListeners(o.agents + 16, o.signal);
  const clients: AgentStateClient[] = [];
  const hosts: RuntimeHost[] = [];
  const stop = new AbortController();
  let service: Promise<void> | undefined;
  let crashTimer: NodeJS.Timeout | undefined;
  let crash: RecoverySummary['crash'] = null;
  const noted = new Set<string>();
  let crashed: { host: RuntimeHost; agents: { id: string; epoch: number }[] } | undefined;
  try {
    const recoveryClient = await o.connect('recovery');
    clients.push(recoveryClient);
    const svc = new RecoveryService({
      log: o.log,
      codec: o.codec,
      ...(o.blobs ? { blobs: o.blobs } : {}),
      wire: o.wire,
      store: o.store,
      client: recoveryClient,
      topicPrefix: o.topicPrefix,
      instance: 'demo-recovery',
      // One line per failed host (or per agent for failures of one agent), not one per agent of a host.
      onDetection: (d) => {
        const what = d.type === 'node_silent' ? `${d.type} ${d.nodeId ?? '-'}` : `${d.type} ${d.instanceId}`;
        if (noted.has(what)) return;
        noted.add(what);
        o.note(`recovery: detected ${what} after ${((d.detectedAt - d.failedAt) / 1000).toFixed(1)}s (confidence ${d.confidence.toFixed(2)}); restarting its agents elsewhere`);
      },
    });
    // Started first: it has read every host's rhythm by the time one crashes.
    service = svc.run(stop.signal);
    for (let i = 1; i <= o.hosts; i++) {
      const nodeId = `demo-host-${i}`;
      const client = await o.connect(nodeId);
      clients.push(client);
      const demo = demoAgentFactory({ seed: o.seed * 1000 + i, thinkMs: o.thinkMs, counters });
      // Each start follows one ownership claim (an ownership_acquired event): counted with the run's events.
      const counted: AgentFactory = (ctx) => {
        counters.events++;
        return demo(ctx);
      };
      const host = new RuntimeHost({ nodeId, log: o.log, client, wire: o.wire, topicPrefix: o.topicPrefix, factories: { researcher: counted, assistant: counted } });
      await host.start();
      hosts.push(host);
    }
    const ids = await ensureAgents(clients[1]!, o.agents, 'demo-agent-', counters, o.signal);
    for (let i = 0; i < ids.length && !o.signal.aborted; i += 100) {
      await Promise.all(
        ids.slice(i, i + 100).map(async (id, j) => {
          const r = await hosts[(i + j) % hosts.length]!.startAgent(id);
          if (!r.ok) throw new Error(`demo: ${id} did not start: ${r.reason}: ${r.detail}`);
        }),
      );
    }
    if (o.crashAfterMs !== undefined && hosts.length > 1) {
      const victim = hosts[Math.floor(hosts.length / 2)]!;
      crashTimer = setTimeout(
        () => {
          const agents = victim.hosted().map((a) => ({ id: a.instanceId, epoch: a.writerEpoch }));
          crashed = { host: victim, agents };
          crash = { nodeId: victim.nodeId, agents: agents.length, atSeconds: Math.round((Date.now() - startedAt) / 100) / 10 };
          o.note(`crash: ${victim.nodeId} stops dead (no heartbeat, no release) with ${agents.length} agents`);
          void victim.abandon();
        },
        Math.max(0, o.crashAfterMs - (Date.now() - startedAt)),
      );
    }
    await new Promise<void>((resolve) => (o.signal.aborted ? resolve() : o.signal.addEventListener('abort', () => resolve(), { once: true })));
    clearTimeout(crashTimer);
    if (crashed) {
      // The run ends with its recoveries finished (or SETTLE_MS gone): the summary is final.
      const { host, agents } = crashed;
      const back = (): boolean =>
        agents.every((a) => {
          const owner = svc.view.owners.get(a.id);
          return owner !== undefined && owner.epoch > a.epoch && owner.nodeId !== host.nodeId;
        });
      const until = Date.now() + SETTLE_MS;
      while ((!back() || svc.engine.active.size > 0) && Date.now() < until) await delay(50);
      o.note(back() ? `recovery: all ${agents.length} agents of ${host.nodeId} serve on the survivors` : `recovery: not every agent of ${host.nodeId} serves again after ${SETTLE_MS / 1000}s`);
    }
  } finally {
    clearTimeout(crashTimer);
    await Promise.allSettled(hosts.map((h) => h.close()));
    stop.abort();
    await service?.catch(() => undefined);
    await Promise.allSettled(clients.map((c) => c.close()));
  }
  return summarise(
    await o.store.list({ since: startedAt, limit: 100_000 }),
    hosts.map((h) => h.nodeId),
    crash,
  );
}

function spread(xs: number[]): { p50: number; max: number } | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return { p50: s[Math.ceil(s.length / 2) - 1]!, max: s.at(-1)! };
}

function summarise(records: RecoveryRecord[], hosts: string[], crash: RecoverySummary['crash']): RecoverySummary {
  const count = (key: (r: RecoveryRecord) => string): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const r of records) out[key(r)] = (out[key(r)] ?? 0) + 1;
    return out;
  };
  const ok = records.filter((r) => r.status === 'succeeded');
  return {
    hosts,
    crash,
    byKind: count((r) => r.failure.type),
    byStatus: count((r) => r.status),
    agentsRecovered: new Set(ok.map((r) => r.instanceId)).size,
    detectMs: spread(ok.flatMap((r) => (r.result?.timeToDetectMs === undefined ? [] : [r.result.timeToDetectMs]))),
    servingMs: spread(ok.flatMap((r) => (r.result?.timeToServingMs === undefined ? [] : [r.result.timeToServingMs]))),
    failures: records.filter((r) => r.status !== 'succeeded').map((r) => ({ recoveryId: r.recoveryId, status: r.status, reason: r.result?.reason ?? 'in progress' })),
  };
}
