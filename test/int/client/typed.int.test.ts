import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStateClient, RegistryEventCodec } from '../../../src/client/index.js';
import { RegistryCodec } from '../../../src/codec/index.js';
import { FencedError } from '../../../src/errors.js';
import { KafkaEventLog } from '../../../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { stackEnv, uniqueName } from '../../support/env.js';

describe('typed helpers and heartbeats', () => {
  let log: KafkaEventLog;
  let client: AgentStateClient;
  let prefix: string;

  beforeAll(async () => {
    log = new KafkaEventLog({ brokers: stackEnv().kafkaBrokers });
    prefix = `${uniqueName('typed')}.`;
    await log.setup(topicSpecs({ prefix, partitions: 2 }));
    const codec = await RegistryEventCodec.create(new RegistryCodec({ url: stackEnv().schemaRegistryUrl }), topicNames(prefix).events);
    client = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, nodeId: 'node-a' });
  });
  afterAll(async () => {
    await client.close();
    await log.close();
  });

  it('writes the seed event types with the state changes they name', async () => {
    await client.createAgent('t-1', { agentType: 'planner' });
    const types: string[] = [];
    const track = async (p: Promise<{ generatedEvents: Array<{ eventType: string }> }>) => types.push((await p).generatedEvents[0]!.eventType);
    await track(client.capabilityAdded('t-1', 'search'));
    await track(client.configurationUpdated('t-1', { model: 'small', temperature: 0.2 }));
    await track(client.resourceAllocated('t-1', { cpuCores: 2, memoryMb: 4096 }));
    await track(client.taskAssigned('t-1', { taskId: 'task-9', type: 'research', input: { q: 'kafka' } }));
    await track(client.memoryUpdated('t-1', { notes: ['first'] }));
    await track(client.taskCompleted('t-1', { answer: 42 }));
    await track(client.errorOccurred('t-1', { message: 'tool timeout', code: 'E_TOOL', fatal: true }));
    await track(client.statusChanged('t-1', 'idle', 'recovered'));
    await track(client.performanceUpdated('t-1', { tokensPerSecond: 31.5 }));
    await track(client.capabilityRemoved('t-1', 'search'));
    expect(types).toEqual([
      'capability_added',
      'configuration_updated',
      'resource_allocated',
      'task_assigned',
      'memory_updated',
      'task_completed',
      'error_occurred',
      'status_changed',
      'performance_updated',
      'capability_removed',
    ]);
    const s = client.getState('t-1')!;
    expect(s.version).toBe(11);
    expect(s.state.capabilities).toEqual([]);
    expect(s.state.configuration).toEqual({ model: 'small', temperature: 0.2 });
    expect(s.state.resourceAllocation.memoryMb).toBe(4096);
    expect(s.state.executionState.currentTask).toBeNull();
    expect(s.state.executionState.taskHistory.map((t) => [t.taskId, t.status, t.result])).toEqual([['task-9', 'completed', { answer: 42 }]]);
    expect(s.state.status).toBe('idle');
    expect(s.state.performance.tokensPerSecond).toBe(31.5);
  });

  it('writes resource_deallocated, snapshot_created and the migration pair, and carries replayable', async () => {
    await client.createAgent('t-3', { agentType: 'planner', status: 'running' });
    await client.resourceAllocated('t-3', { cpuCores: 4, memoryMb: 8192, gpuCount: 1, tpuCount: 2 });
    const partial = await client.resourceDeallocated('t-3', { cpuCores: 3, gpuCount: 5 });
    expect(partial.generatedEvents[0]!.eventType).toBe('resource_deallocated');
    expect(client.getState('t-3')!.state.resourceAllocation).toEqual({ cpuCores: 1, memoryMb: 8192, gpuCount: 0, tpuCount: 2 });
    await expect(client.resourceDeallocated('t-3', { diskGb: 1 })).rejects.toThrow(/diskGb is not allocated/);
    await client.resourceDeallocated('t-3', 'all');
    expect(client.getState('t-3')!.state.resourceAllocation).toEqual({ cpuCores: 0, memoryMb: 0, gpuCount: 0 });

    const before = client.getState('t-3')!;
    const snap = await client.snapshotCreated('t-3', { snapshotId: 's-1', version: before.version, type: 'checkpoint' });
    expect(snap.generatedEvents[0]!.changeset).toEqual([]);
    expect(snap.generatedEvents[0]!.metadata).toEqual({ snapshotId: 's-1', snapshotVersion: String(before.version), snapshotType: 'checkpoint', trigger: 'manual' });
    expect(snap.checksum).toBe(before.checksum);

    const info = { migrationId: 'm-1', sourceNodeId: 'node-a', targetNodeId: 'node-b' };
    await client.migrationStarted('t-3', info);
    expect(client.getState('t-3')!.state.status).toBe('migrating');
    await expect(client.migrationCompleted('t-3', { ...info, migrationId: 'm-2' })).rejects.toThrow(/no migration m-2/);
    const done = await client.migrationCompleted('t-3', info);
    expect(done.generatedEvents[0]!.eventType).toBe('migration_completed');
    expect(client.getState('t-3')!.state.status).toBe('running');
    expect(client.getState('t-3')!.state.executionState.processState).toEqual({});

    const once = await client.updateState('t-3', (d) => void (d.memory.sent = ['mail-1']), { replayable: false });
    // What a plain registry consumer reads back from the topic.
    const topic = topicNames(prefix).events;
    const p = await log.partitionFor(topic, 't-3');
    const records = await log.read(topic, p, '0', (await log.endOffsets(topic))[p]!);
    const registry = new SchemaRegistry({ host: stackEnv().schemaRegistryUrl });
    const decoded = (await Promise.all(records.map((r) => registry.decode(r.value!)))) as Array<{ instanceId: string; version: number; eventType: string; replayable: boolean }>;
    const mine = decoded.filter((d) => d.instanceId === 't-3');
    expect(mine.map((d) => d.eventType)).toEqual([
      'instance_created',
      'resource_allocated',
      'resource_deallocated',
      'resource_deallocated',
      'snapshot_created',
      'migration_started',
      'migration_completed',
      'state_patched',
    ]);
    expect(mine.map((d) => d.replayable)).toEqual([true, true, true, true, true, true, true, false]);
    expect(Number(mine.at(-1)!.version)).toBe(once.newVersion);
  });

  it('publishes Avro heartbeats to the compacted heartbeats topic, only while owning', async () => {
    await client.createAgent('t-2', { agentType: 'planner' });
    const hb1 = await client.heartbeat('t-2');
    const hb2 = await client.heartbeat('t-2', { metadata: { zone: 'a' } });
    expect([hb1.sequence, hb2.sequence]).toEqual([1, 2]);
    const topic = topicNames(prefix).heartbeats;
    const p = await log.partitionFor(topic, 't-2');
    const records = await log.read(topic, p, '0', (await log.endOffsets(topic))[p]!);
    const registry = new SchemaRegistry({ host: stackEnv().schemaRegistryUrl });
    const decoded = await Promise.all(records.map((r) => registry.decode(r.value!)));
    expect(decoded.map((d: { instanceId: string; sequence: number; nodeId: string; writerEpoch: number }) => [d.instanceId, Number(d.sequence), d.nodeId, Number(d.writerEpoch)])).toEqual([
      ['t-2', 1, 'node-a', 1],
      ['t-2', 2, 'node-a', 1],
    ]);
    await client.release('t-2');
    await expect(client.heartbeat('t-2')).rejects.toBeInstanceOf(FencedError);
  });
});
