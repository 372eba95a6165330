import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentStateClient, JsonEventCodec } from '../../../src/client/index.js';
import { counterAgentFactory } from '../../../src/demo/hosted.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { ESTIMATE_PRIORS, RecoveryService } from '../../../src/recovery/index.js';
import type { HeartbeatClock } from '../../../src/runtime/beat.js';
import { JsonRuntimeWire, RuntimeHost, sendCommand, type AgentFactory } from '../../../src/runtime/index.js';
import { SqliteRecoveryRecordStore } from '../../../src/store/sqlite/recovery-records.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-recovery-int-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(what: string, check: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** An embedded log under a fresh prefix, the runtime wire, an in-memory record store, and fleet-scoped clients (as agentstate runtime and services/recovery wire them). */
async function fleet(name: string, file: string) {
  const prefix = `${name}${Date.now()}.`;
  const log = new SqliteEventLog({ path: join(dir, file), pollIntervalMs: 10 });
  await log.setup(topicSpecs({ prefix, partitions: 4 }));
  const codec = new JsonEventCodec();
  const store = new SqliteRecoveryRecordStore({ path: ':memory:' });
  await store.setup();
  const clients: AgentStateClient[] = [];
  const connect = async (): Promise<AgentStateClient> => {
    const c = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, bootstrap: false, scope: 'fleet' });
    clients.push(c);
    return c;
  };
  return { prefix, log, codec, wire: new JsonRuntimeWire(), store, clients, connect };
}

describe('recovery service with in-process runtime hosts (embedded log)', () => {
  it('a host that stops heartbeating has its agents started on the least loaded live host, recorded and validated', async () => {
    const { prefix, log, codec, wire, store, clients, connect } = await fleet('int', 'log.sqlite');
    const hosts: RuntimeHost[] = [];
    const stop = new AbortController();
    let service: Promise<void> | undefined;
    try {
      for (const n of ['a', 'b', 'c']) {
        const client = await connect();
        const host = new RuntimeHost({ nodeId: `node-${n}`, log, client, wire, topicPrefix: prefix, heartbeatIntervalMs: 200, factories: { counter: counterAgentFactory({ intervalMs: 20 }) } });
        await host.start();
        hosts.push(host);
      }
      const ids = ['x0', 'x1', 'x2', 'x3'];
      await Promise.all(ids.map((id) => clients[0]!.createAgent(id, { agentType: 'counter' })));
      for (const id of ids) expect((await hosts[0]!.startAgent(id)).ok).toBe(true);
      expect((await hosts[1]!.startAgent('y0')).ok).toBe(false);
      const rc = await connect();
      const detections: string[] = [];
      const svc = new RecoveryService({ log, codec, wire, store, client: rc, topicPrefix: prefix, tickMs: 20, onDetection: (d) => detections.push(`${d.type}:${d.instanceId}`) });
      service = svc.run(stop.signal);
      await until('view sees the agents', () => ids.every((id) => svc.view.owners.get(id)?.nodeId === 'node-a'), 10_000);
      // node-a goes silent without stopping its agents: what a crash looks like from outside.
      await (hosts[0] as unknown as { beats: HeartbeatClock }).beats.stop(false);
      await until('agents serving elsewhere', () => ids.every((id) => hosts.slice(1).some((h) => h.hosted().some((a) => a.instanceId === id))), 15_000);
      expect(detections.sort()).toEqual(ids.map((id) => `node_silent:${id}`));
      // Least loaded: the four agents are spread over the two live hosts.
      expect(hosts[1]!.hosted().length).toBe(2);
      expect(hosts[2]!.hosted().length).toBe(2);
      await until('records finished', () => svc.engine.active.size === 0, 10_000);
      const records = await store.list();
      expect(records.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
      // The seed's RecoveryPlan: no history yet, so the documented priors; the rollback plan names the head the failed owner left.
      for (const r of records) {
        const plan = r.plan!;
        expect(plan.failureType).toBe('node_silent');
        expect(plan.plannedSteps).toEqual(['plan', 'command', 'serving', 'validate']);
        expect(plan.estimateBasis).toEqual({ durationSamples: 0, outcomes: 0, successes: 0, prior: true });
        expect(plan.estimatedDuration).toBe(ESTIMATE_PRIORS.durationMs.restart);
        expect(plan.successProbability).toBe(0.5);
        expect(plan.rollbackPlan).toMatchObject({ epoch: r.failure.failedEpoch, action: 'none', status: 'initializing' }); // the counter agent never changes its status
        expect(plan.rollbackPlan.version).toBeGreaterThanOrEqual(Number(r.failure.evidence.lastVersion));
        expect(plan.rollbackPlan.version).toBeLessThanOrEqual(r.result!.version!);
        expect(plan.rollbackPlan.checksum).toMatch(/^[0-9a-f]{64}$/);
        expect(r.result!.durationMs).toBeGreaterThan(0);
      }

      // A second host dies: its plans are estimated from the four recoveries just recorded.
      const moved = hosts[1]!.hosted().map((a) => a.instanceId);
      await (hosts[1] as unknown as { beats: HeartbeatClock }).beats.stop(false);
      await until('node-b agents serving on node-c', () => moved.every((id) => hosts[2]!.hosted().some((a) => a.instanceId === id)), 15_000);
      await until('records finished', () => svc.engine.active.size === 0, 10_000);
      const second = (await store.list()).filter((r) => !records.some((x) => x.recoveryId === r.recoveryId));
      expect(second.map((r) => [r.instanceId, r.status]).sort()).toEqual(moved.map((id) => [id, 'succeeded']).sort());
      const durations = records.map((r) => r.result!.durationMs!).sort((a, b) => a - b);
      for (const r of second) {
        expect(r.plan!.estimateBasis).toEqual({ durationSamples: 4, outcomes: 4, successes: 4, prior: false });
        expect(r.plan!.estimatedDuration).toBe(Math.round((durations[1]! + durations[2]!) / 2));
        expect(r.plan!.successProbability).toBe(Math.round((5 / 6) * 1000) / 1000);
      }
    } finally {
      stop.abort();
      await service;
      for (const h of hosts) await h.close();
      for (const c of clients) await c.close();
      await store.close();
      await log.close();
    }
  });
});

describe('no false suspicion', () => {
  it('a live host (default 1 s heartbeat) starting 20 agents one after another and writing under load is never declared dead, nor after a 3.5 s pause of its process', async () => {
    const { prefix, log, codec, wire, store, clients, connect } = await fleet('live', 'live.sqlite');
    await connect();
    await connect();
    const host = new RuntimeHost({ nodeId: 'live', log, client: clients[0]!, wire, topicPrefix: prefix, factories: { counter: counterAgentFactory({ intervalMs: 20 }) } });
    const detections: string[] = [];
    const stop = new AbortController();
    const svc = new RecoveryService({ log, codec, wire, store, client: clients[1]!, topicPrefix: prefix, onDetection: (d) => detections.push(`${d.nodeId ?? ''}:${d.instanceId}`) });
    const service = svc.run(stop.signal);
    try {
      await host.start();
      const ids = Array.from({ length: 20 }, (_, i) => `live-${i}`);
      await Promise.all(ids.map((id) => clients[0]!.createAgent(id, { agentType: 'counter' })));
      // Each start announces its agent at once: a burst of extra heartbeats a few ms apart, then the host's 1 s rhythm.
      for (const id of ids) expect((await host.startAgent(id)).ok).toBe(true);
      await until('the view lists the 20 agents', () => ids.every((id) => svc.view.owners.get(id)?.nodeId === 'live'), 10_000);
      const seq = svc.view.nodes.get('live')!.last.sequence;
      // Four periodic beats after the burst (the detector before suspected the host at the first one's gap), each agent writing every 20 ms.
      await until('four more heartbeats', () => svc.view.nodes.get('live')!.last.sequence >= seq + 4, 15_000);
      expect(detections).toEqual([]);
      // The whole process blocked for 3.5 s (a GC pause, CPU starvation): the host's timer and the service's reader wait alike,
      // and the service's next tick must not take its own pause for the host's silence.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3500);
      const after = svc.view.nodes.get('live')!.last.sequence;
      await until('two heartbeats after the pause', () => svc.view.nodes.get('live')!.last.sequence >= after + 2, 15_000);
      expect(detections).toEqual([]);
      expect(svc.view.nodes.get('live')!.status).toBe('alive');
      expect(await store.list()).toEqual([]);
    } finally {
      stop.abort();
      await service;
      await host.close();
      for (const c of clients) await c.close();
      await store.close();
      await log.close();
    }
  });
});

describe('runtime host control commands', () => {
  it("a start is not held up by another agent's command still in hand (commandOrder per-agent); per-batch waits for it", async () => {
    const prefix = `order${Date.now()}.`;
    const log = new SqliteEventLog({ path: join(dir, 'order.sqlite'), pollIntervalMs: 10 });
    await log.setup(topicSpecs({ prefix, partitions: 2 }));
    const codec = new JsonEventCodec();
    const wire = new JsonRuntimeWire();
    const control = topicNames(prefix).control;
    const clients: AgentStateClient[] = [];
    const hosts: RuntimeHost[] = [];
    try {
      for (const order of ['per-agent', 'per-batch'] as const) {
        const client = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, bootstrap: false, scope: 'fleet' });
        clients.push(client);
        // A step that ignores its stop signal: a freeze waits until it ends, and it ends when the test says.
        let finishStep: () => void = () => undefined;
        let stepDone = false;
        const slow: AgentFactory = () => ({
          step: () =>
            new Promise<void>((resolve) => {
              finishStep = () => {
                stepDone = true;
                resolve();
              };
            }),
        });
        const host = new RuntimeHost({
          nodeId: `host-${order}`,
          log,
          client,
          wire,
          topicPrefix: prefix,
          heartbeatIntervalMs: 200,
          commandOrder: order,
          factories: { slow, counter: counterAgentFactory({ intervalMs: 50 }) },
        });
        await host.start();
        hosts.push(host);
        const [a, b] = [`a-${order}`, `b-${order}`];
        await client.createAgent(a, { agentType: 'slow' });
        await client.createAgent(b, { agentType: 'counter' });
        expect((await host.startAgent(a)).ok).toBe(true);
        await until(`${a} in its step`, () => host.hosted().some((x) => x.instanceId === a), 5000);
        await sendCommand(log, wire, control, { instanceId: a, commandType: 'freeze', targetNode: host.nodeId, issuedBy: 'test' });
        await until(`${a} freezing`, () => host.hosted().find((x) => x.instanceId === a)?.state === 'frozen', 5000);
        await sendCommand(log, wire, control, { instanceId: b, commandType: 'start', targetNode: host.nodeId, issuedBy: 'test' });
        const bRuns = (): boolean => host.hosted().some((x) => x.instanceId === b);
        if (order === 'per-agent') {
          // b starts while a's freeze still waits for its step.
          await until(`${b} started`, bRuns, 5000);
          expect(stepDone).toBe(false);
          finishStep();
        } else {
          // b's start waits behind the batch that holds a's freeze: it runs only after the step ends.
          const seen = Date.now();
          while (Date.now() - seen < 600) {
            expect(bRuns()).toBe(false);
            await sleep(20);
          }
          finishStep();
          await until(`${b} started`, bRuns, 5000);
        }
      }
    } finally {
      for (const h of hosts) await h.close();
      for (const c of clients) await c.close();
      await log.close();
    }
  });
});
