import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AgentStateClient, JsonEventCodec } from '../../../src/client/index.js';
import type { AnomalyRecord } from '../../../src/analytics/anomaly.js';
import { AnomalyPublisher, jsonAnomaly } from '../../../src/analytics/publish.js';
import { buildEvent, eventRecord } from '../../../src/client/event-record.js';
import { counterAgentFactory } from '../../../src/demo/hosted.js';
import { readEventRecord } from '../../../src/domain/index.js';
import type { StoredRecord } from '../../../src/log/port.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { DEFAULT_POLICY, ESTIMATE_PRIORS, RecoveryService, withDefaults, type FailureDetection, type RecoveryPolicy } from '../../../src/recovery/index.js';
import { JsonRuntimeWire, RuntimeHost, sendCommand, type AgentFactory } from '../../../src/runtime/index.js';
import { SqliteRecoveryRecordStore } from '../../../src/store/sqlite/recovery-records.js';

/**
 * Issue 15, detection beyond heartbeats and the plans they lead to, on the
 * embedded log with in-process runtime hosts (the behaviour is the engine's,
 * the same on every profile). Each case has its own prefix and store.
 */
const dir = mkdtempSync(join(tmpdir(), 'agentstate-recovery-detect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** An agent that does nothing by itself: the test writes its events through the host's writer. */
const idle: AgentFactory = (ctx) => ({ step: () => sleep(50, undefined, { signal: ctx.signal }).catch(() => undefined) });

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fleet(name: string, nodes: string[], policies: Record<string, Partial<RecoveryPolicy>> = {}) {
  const prefix = `${name}${Date.now()}.`;
  const log = new SqliteEventLog({ path: join(dir, `${name}.sqlite`), pollIntervalMs: 10 });
  await log.setup(topicSpecs({ prefix, partitions: 4 }));
  const codec = new JsonEventCodec();
  const wire = new JsonRuntimeWire();
  const store = new SqliteRecoveryRecordStore({ path: ':memory:' });
  await store.setup();
  for (const [scope, p] of Object.entries(policies)) await store.putPolicy(scope, withDefaults({ ...DEFAULT_POLICY, ...p }));
  const clients: AgentStateClient[] = [];
  const connect = async (): Promise<AgentStateClient> => {
    const c = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, bootstrap: false, scope: 'fleet' }); // as agentstate runtime and services/recovery wire it
    clients.push(c);
    return c;
  };
  const hosts = new Map<string, { host: RuntimeHost; client: AgentStateClient }>();
  for (const n of nodes) {
    const client = await connect();
    const host = new RuntimeHost({ nodeId: n, log, client, wire, topicPrefix: prefix, heartbeatIntervalMs: 200, factories: { idle, counter: counterAgentFactory({ intervalMs: 20 }) } });
    await host.start();
    hosts.set(n, { host, client });
  }
  const detections: FailureDetection[] = [];
  const svc = new RecoveryService({ log, codec, wire, store, client: await connect(), topicPrefix: prefix, tickMs: 20, onDetection: (d) => detections.push(d) });
  const stop = new AbortController();
  const running = svc.run(stop.signal);
  cleanups.push(async () => {
    stop.abort();
    await running;
    for (const { host } of hosts.values()) await host.close();
    for (const c of clients) await c.close();
    await store.close();
    await log.close();
  });
  const topics = topicNames(prefix);
  /** Every record of a topic, all partitions. */
  const records = async (topic: string): Promise<StoredRecord[]> => {
    const [from, to] = await Promise.all([log.startOffsets(topic), log.endOffsets(topic)]);
    const out: StoredRecord[] = [];
    for (const [p, end] of Object.entries(to)) out.push(...(await log.read(topic, Number(p), from[Number(p)] ?? '0', end)));
    return out;
  };
  const events = async (id: string) => {
    const out = [];
    for (const r of await records(topics.events)) {
      if (r.key !== id) continue;
      const e = await readEventRecord(r, (v) => codec.decode(v));
      if (e.kind === 'event') out.push(e.event);
    }
    return out.sort((a, b) => a.version - b.version);
  };
  const servedOn = (id: string) => [...hosts].filter(([, h]) => h.host.hosted().some((a) => a.instanceId === id)).map(([n]) => n);
  // The service knows every host before a failure is staged.
  await until('hosts seen', () => nodes.every((n) => svc.view.nodes.get(n)?.status === 'alive'), 10_000);
  return { prefix, log, codec, wire, store, svc, hosts, detections, topics, records, events, servedOn, connect };
}

describe('recovery: detections from the events topic and the plans they lead to', () => {
  it('an error burst under a restore policy rolls the agent back to its last known good version, then starts it on another host', async () => {
    const f = await fleet('burst', ['node-a', 'node-b'], { 'type:idle': { strategy: { ...DEFAULT_POLICY.strategy, approach: 'restore', targetState: 'last_known_good' }, errorBurst: { errors: 3, windowMs: 60_000 } } });
    const a = f.hosts.get('node-a')!;
    await a.client.createAgent('w1', { agentType: 'idle' });
    expect((await a.host.startAgent('w1')).ok).toBe(true);
    await a.client.memoryUpdated('w1', { notes: 'good' });
    await a.client.taskAssigned('w1', { taskId: 't1', type: 'summarise' });
    const good = await a.client.taskCompleted('w1', 'done');
    await a.client.memoryUpdated('w1', { notes: 'garbled' });
    await a.client.taskAssigned('w1', { taskId: 't2', type: 'summarise' });
    // One error is no burst; three within the window are.
    await a.client.errorOccurred('w1', { message: 'tool failed' });
    await sleep(300);
    expect(f.detections).toEqual([]);
    const firstError = (await a.client.errorOccurred('w1', { message: 'tool failed' })).newVersion - 1;
    await a.client.errorOccurred('w1', { message: 'tool failed' });

    await until('a record finished', async () => (await f.store.list()).some((r) => r.status !== 'in_progress'), 15_000);
    const [record] = await f.store.list();
    expect(record!.status, JSON.stringify(record)).toBe('succeeded');
    expect(f.detections.map((d) => d.type)).toEqual(['error_burst']);
    expect(record!.failure).toMatchObject({ type: 'error_burst', instanceId: 'w1', nodeId: 'node-a', failedEpoch: 2, evidence: { errors: 3, firstErrorVersion: firstError } });
    expect(record!.plan).toMatchObject({ strategy: { approach: 'restore', targetState: 'last_known_good' }, targetVersion: good.newVersion, targetNode: 'node-b' });
    expect(record!.steps.map((s) => s.name)).toEqual(['detect', 'state_operation', 'plan', 'command', 'serving', 'validate']);

    // The log: created at epoch 1, node-a's epoch 2; the owner fenced (epoch 3), the state moved back to the last known good one, then node-b's claim (epoch 4).
    const events = await f.events('w1');
    const tail = events.slice(-3).map((e) => [e.eventType, e.writerEpoch]);
    expect(tail).toEqual([
      ['ownership_acquired', 3],
      ['state_rolled_back', 3],
      ['ownership_acquired', 4],
    ]);
    expect(events.at(-2)!.metadata).toMatchObject({ rolledBackTo: String(good.newVersion), recoveryId: record!.recoveryId });
    // The rollback plan names the head the restore started from (the fencing claim at epoch 3), to return to if it had failed.
    const fenced = events.at(-3)!;
    expect(record!.plan!.rollbackPlan).toMatchObject({ version: fenced.version, epoch: 3, checksum: fenced.stateChecksum, action: 'rollback_to_version' });
    expect(record!.plan!.rollbackPlan.detail).toContain(`agentstate rollback w1 ${fenced.version}`);
    expect(record!.plan!.plannedSteps).toEqual(['state_operation', 'plan', 'command', 'serving', 'validate']);
    expect(record!.plan).toMatchObject({ failureType: 'error_burst', estimatedDuration: ESTIMATE_PRIORS.durationMs.restore, successProbability: 0.5 });
    const restored = f.hosts.get('node-b')!.client.getState('w1')!;
    expect(restored.state.memory.notes).toBe('good');
    expect(restored.state.executionState.currentTask).toBeNull();
    expect(restored.checksum).toBe(events.at(-1)!.stateChecksum);
    expect(f.servedOn('w1')).toEqual(['node-b']);
    // The old owner was fenced: it no longer lists the agent, and its next write fails.
    await expect(a.client.memoryUpdated('w1', { notes: 'late' })).rejects.toMatchObject({ code: 'AS_FENCED' });
  });

  it('a stuck task under a restart policy fences its owner and starts the agent again elsewhere with its state as it was', async () => {
    const f = await fleet('stuck', ['node-a', 'node-b'], { 'type:idle': { stuckTaskMs: 800 } });
    const a = f.hosts.get('node-a')!;
    await a.client.createAgent('s1', { agentType: 'idle' });
    expect((await a.host.startAgent('s1')).ok).toBe(true);
    await a.client.memoryUpdated('s1', { notes: 'kept' });
    const assigned = await a.client.taskAssigned('s1', { taskId: 't1', type: 'crawl' });
    const before = a.client.getState('s1')!;

    await until('a record finished', async () => (await f.store.list()).some((r) => r.status !== 'in_progress'), 15_000);
    const [record] = await f.store.list();
    expect(record!.status, JSON.stringify(record)).toBe('succeeded');
    expect(record!.failure).toMatchObject({ type: 'agent_stuck', instanceId: 's1', nodeId: 'node-a', failedEpoch: 2, evidence: { taskVersion: assigned.newVersion, stuckTaskMs: 800 } });
    expect(record!.failure.evidence.silentMs).toBeGreaterThanOrEqual(800);
    expect(record!.plan).toMatchObject({ strategy: { approach: 'restart' }, targetVersion: null, targetNode: 'node-b' });
    expect(record!.steps.find((s) => s.name === 'state_operation')!.detail).toMatch(/^fenced the owner at epoch 2/);
    // A restart changes nothing but the owner: two claims, no state operation.
    const events = await f.events('s1');
    expect(events.filter((e) => e.version > before.version).map((e) => e.eventType)).toEqual(['ownership_acquired', 'ownership_acquired']);
    const now = f.hosts.get('node-b')!.client.getState('s1')!;
    expect(now.state.memory.notes).toBe('kept');
    expect(now.state.executionState.currentTask?.taskId).toBe('t1');
    expect(f.servedOn('s1')).toEqual(['node-b']);
  });

  it('an anomaly the policy acts on (a loop) restores the agent to its last known good version; one it does not name changes nothing', async () => {
    const f = await fleet('anomaly', ['node-a', 'node-b'], { 'type:idle': { anomalyActions: { loop: { minSeverity: 'warning', approach: 'restore' } } } });
    const a = f.hosts.get('node-a')!;
    await a.client.createAgent('l1', { agentType: 'idle' });
    expect((await a.host.startAgent('l1')).ok).toBe(true);
    await a.client.taskAssigned('l1', { taskId: 't1', type: 'plan' });
    await a.client.memoryUpdated('l1', { step: 1 });
    const good = await a.client.taskCompleted('l1', 'ok');
    for (let i = 0; i < 3; i++) await a.client.memoryUpdated('l1', { step: 2 + (i % 2) });
    await until('l1 seen on node-a', () => f.svc.view.owners.get('l1')?.nodeId === 'node-a', 5000);
    const publisher = new AnomalyPublisher(f.log, f.topics.anomalies, jsonAnomaly);
    const anomaly = (type: AnomalyRecord['type'], severity: AnomalyRecord['severity']): AnomalyRecord => ({
      anomalyId: `${type}-l1`,
      instanceId: 'l1',
      agentType: 'idle',
      type,
      severity,
      status: 'active',
      firstSeenAt: Date.now(),
      lastSeenAt: Date.now(),
      resolvedAt: null,
      fromVersion: good.newVersion + 1,
      toVersion: good.newVersion + 3,
      observed: null,
      expected: null,
      score: null,
      description: 'test',
      evidence: {},
    });
    // Not named by the policy, or below its severity: no action.
    await publisher.publish([anomaly('velocity_spike', 'critical'), anomaly('loop', 'info')]);
    await sleep(500);
    expect(f.detections).toEqual([]);
    await publisher.publish([anomaly('loop', 'critical')]);

    await until('a record finished', async () => (await f.store.list()).some((r) => r.status !== 'in_progress'), 15_000);
    const [record] = await f.store.list();
    expect(record!.status, JSON.stringify(record)).toBe('succeeded');
    expect(record!.failure).toMatchObject({
      type: 'anomaly',
      instanceId: 'l1',
      nodeId: 'node-a',
      failedEpoch: 2,
      confidence: 1,
      evidence: { anomalyId: 'loop-l1', kind: 'loop', severity: 'critical', approach: 'restore' },
    });
    expect(record!.plan).toMatchObject({ strategy: { approach: 'restore' }, targetVersion: good.newVersion, targetNode: 'node-b' });
    const now = f.hosts.get('node-b')!.client.getState('l1')!;
    expect(now.state.memory.step).toBe(1);
    expect(f.servedOn('l1')).toEqual(['node-b']);
  });

  it('writes of a fenced owner are detected as fenced_writes, and the record names who serves the agent', async () => {
    const f = await fleet('fenced', ['node-a', 'node-b']);
    const a = f.hosts.get('node-a')!;
    await a.client.createAgent('z1', { agentType: 'idle' });
    const head = a.client.getState('z1')!;
    const b = f.hosts.get('node-b')!;
    expect((await b.host.startAgent('z1')).ok).toBe(true);
    // A zombie's write: built on the head it last knew, at its old epoch, appended after the new owner's claim.
    const { event } = buildEvent({
      instanceId: 'z1',
      head: { version: head.version + 1, epoch: 1, state: head.state as never, checksum: head.checksum },
      next: { ...(head.state as object), memory: { notes: 'zombie' } } as never,
      epoch: 1,
      eventType: 'memory_updated',
      source: 'zombie',
    });
    await f.log.append(f.topics.events, [eventRecord(event, await f.codec.encode(event))]);
    await until('a record finished', async () => (await f.store.list()).some((r) => r.status !== 'in_progress'), 15_000);
    const [record] = await f.store.list();
    expect(record!.failure).toMatchObject({ type: 'fenced_writes', instanceId: 'z1', failedEpoch: 1, evidence: { rejectedEpoch: 1, ownerEpoch: 2 } });
    expect(record!.status, JSON.stringify(record)).toBe('succeeded');
    expect(record!.result).toMatchObject({ servingNode: 'node-b', epoch: 2 });
    expect(f.servedOn('z1')).toEqual(['node-b']);
  });
});

describe('recovery: the crash-loop cap and bad input', () => {
  it('an agent recovered the policy maximum of times is not restarted again: it is marked error with the reason', async () => {
    const f = await fleet('loop', ['node-a', 'node-b', 'node-c'], { 'type:counter': { crashLoop: { maxRecoveries: 1, windowMs: 60_000 } } });
    const a = f.hosts.get('node-a')!;
    await a.client.createAgent('c1', { agentType: 'counter' });
    expect((await a.host.startAgent('c1')).ok).toBe(true);
    await until('c1 seen on node-a', () => f.svc.view.owners.get('c1')?.nodeId === 'node-a', 5000);
    const epochOnA = f.svc.view.owners.get('c1')!.epoch;
    await a.host.abandon();
    await until('c1 serving again', () => f.servedOn('c1').length === 1 && f.svc.view.owners.get('c1')!.epoch > epochOnA, 15_000);
    const second = f.servedOn('c1')[0]!;
    await until('c1 seen on its new host', () => f.svc.view.owners.get('c1')?.nodeId === second, 5000);
    await f.hosts.get(second)!.host.abandon();

    await until('two records finished', async () => (await f.store.list()).filter((r) => r.status !== 'in_progress').length === 2, 15_000);
    const [last, first] = await f.store.list();
    expect(first!.status).toBe('succeeded');
    expect(last!.status).toBe('gave_up');
    expect(last!.result!.reason).toMatch(/crash loop: 1 recoveries within 60s \(policy maximum 1\)/);
    expect(last!.steps.map((s) => s.name)).toEqual(['detect', 'mark_error']);
    // Not started anywhere; its state says error, with the reason in the event.
    const third = [...f.hosts.keys()].find((n) => n !== 'node-a' && n !== second)!;
    expect(f.hosts.get(third)!.host.hosted()).toEqual([]);
    const events = await f.events('c1');
    const marked = events.at(-1)!;
    expect(marked.eventType).toBe('status_changed');
    expect(marked.metadata.reason).toBe(last!.result!.reason);
    const reader = await f.connect();
    expect(reader.getState('c1')!.state.status).toBe('error');
  });

  it('refuses a scoped client with AS_CONFIG: it validates and restores agents it does not own', async () => {
    const f = await fleet('scoped', ['node-a']);
    const scoped = await AgentStateClient.connect({ log: f.log, codec: f.codec, topicPrefix: f.prefix, bootstrap: false });
    try {
      expect(() => new RecoveryService({ log: f.log, codec: f.codec, wire: f.wire, store: f.store, client: scoped, topicPrefix: f.prefix })).toThrow(
        expect.objectContaining({ code: 'AS_CONFIG', message: expect.stringContaining("scope: 'fleet'") }),
      );
    } finally {
      await scoped.close();
    }
  });

  it('a malformed heartbeat or control record goes to the DLQ with a reason and changes nothing; commands for an unknown node or agent are refused with a reason', async () => {
    const f = await fleet('bad', ['node-a']);
    const nodesBefore = [...f.svc.view.nodes.keys()];
    await f.log.append(f.topics.heartbeats, [{ key: 'node:ghost', value: Buffer.from('{not json') }]);
    await f.log.append(f.topics.control, [{ key: 'x1', value: Buffer.from([0, 1, 2]) }]);
    await sendCommand(f.log, f.wire, f.topics.control, { instanceId: 'x1', commandType: 'start', targetNode: 'node-nowhere', issuedBy: 'test' });
    await sendCommand(f.log, f.wire, f.topics.control, { instanceId: 'no-such-agent', commandType: 'start', targetNode: 'node-a', issuedBy: 'test' });

    const reasons = async () => (await f.records(f.topics.dlq)).map((r) => `${r.headers.reason}:${r.headers.sourceTopic}:${r.key}`).sort();
    await until('four DLQ records', async () => (await reasons()).length >= 4, 10_000);
    await sleep(300);
    expect(await reasons()).toEqual(
      [`malformed_heartbeat:${f.topics.heartbeats}:node:ghost`, `malformed_command:${f.topics.control}:x1`, `unknown_node:${f.topics.control}:x1`, `unknown_agent:${f.topics.control}:no-such-agent`].sort(),
    );
    const dlq = await f.records(f.topics.dlq);
    expect(dlq.find((r) => r.headers.reason === 'unknown_agent')!.headers).toMatchObject({ detail: 'agent no-such-agent does not exist', rejectedBy: 'node-a' });
    expect(dlq.find((r) => r.headers.reason === 'unknown_node')!.headers.detail).toMatch(/no runtime host "node-nowhere" has heartbeated/);
    // Nothing changed: no node was added, no recovery began, node-a runs nothing.
    expect([...f.svc.view.nodes.keys()]).toEqual(nodesBefore);
    expect(await f.store.list()).toEqual([]);
    expect(f.hosts.get('node-a')!.host.hosted()).toEqual([]);
  });
});
