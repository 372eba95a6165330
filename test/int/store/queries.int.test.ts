import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStateClient } from '../../../src/client/index.js';
import type { TaskRecord } from '../../../src/domain/index.js';
import { StateManager } from '../../../src/manager/index.js';
import type { MongoStore } from '../../../src/store/mongo/index.js';
import { stackEnv } from '../../support/env.js';
import { codec, foldLog, world, type World } from '../projector/harness.js';

const task = (taskId: string): TaskRecord => ({
  taskId,
  type: 'search',
  status: 'running',
  startedAt: 1,
  completedAt: null,
  input: { q: taskId },
  result: null,
  error: null,
});

/**
 * Issue 9 §2: a MongoDB user queries `agent_states`, written by the projector,
 * with the plain driver and the seed's field names, and gets exactly the right agents.
 */
describe('agent_states is queryable with the plain mongodb driver', () => {
  let w: World;
  let store: MongoStore;
  let mongo: MongoClient;

  beforeAll(async () => {
    w = await world(2);
    const client = await AgentStateClient.connect({ log: w.log, codec, topicPrefix: w.prefix });
    try {
      await client.createAgent('q-a', { agentType: 'researcher', capabilities: ['web-search'] });
      await client.createAgent('q-b', { agentType: 'coder', capabilities: ['code', 'web-search'] });
      await client.createAgent('q-c', { agentType: 'coder', capabilities: ['code'] });
      await client.createAgent('q-d', { agentType: 'planner' });
      await client.updateState('q-a', (d) => {
        d.status = 'error';
        d.performance.errorRate = 0.5;
        d.resourceAllocation.gpuCount = 2;
        d.executionState.currentTask = task('T-9');
        d.memory['key.with.dots'] = { $weird: 'kept in the body' };
      });
      await client.updateState('q-b', (d) => {
        d.status = 'running';
        d.performance.errorRate = 0.05;
        d.executionState.currentTask = task('T-1');
        d.configuration['$odd.key'] = 'escaped';
      });
      await client.updateState('q-c', (d) => {
        d.status = 'error';
        d.performance.errorRate = 0.2;
        d.resourceAllocation.gpuCount = 1;
        d.executionState.taskHistory = Array.from({ length: 25 }, (_, i) => ({ ...task(`H-${i}`), status: 'completed' as const }));
      });
      await client.updateState('q-d', (d) => {
        d.status = 'idle';
        d.performance.errorRate = 0;
      });
      await client.updateState('q-a', (d) => {
        d.performance.note = 'last';
      });
    } finally {
      await client.close();
    }
    store = await w.newStore();
    await w.projector(store, { snapshots: { everyEvents: 2 } }).runUntilCaughtUp();
    mongo = await MongoClient.connect(stackEnv().mongodbUri);
  }, 120_000);
  afterAll(async () => {
    await mongo?.close();
    await w?.close();
  });

  it('answers the issue-9 queries with the seed field names', async () => {
    const states = mongo.db(store.connection.db.databaseName).collection('agent_states');
    const ids = async (filter: Record<string, unknown>): Promise<string[]> => (await states.find(filter, { projection: { _id: 1 } }).toArray()).map((d) => String(d._id)).sort();
    expect(await ids({ status: 'error' })).toEqual(['q-a', 'q-c']);
    expect(await ids({ 'performance.errorRate': { $gt: 0.1 } })).toEqual(['q-a', 'q-c']);
    expect(await ids({ capabilities: 'web-search' })).toEqual(['q-a', 'q-b']);
    expect(await ids({ 'executionState.currentTask.taskId': 'T-9' })).toEqual(['q-a']);
    expect(await ids({ 'resourceAllocation.gpuCount': { $gte: 1 } })).toEqual(['q-a', 'q-c']);
    // q-a was changed last.
    const byTime = await states
      .find({}, { projection: { _id: 1, lastModified: 1 } })
      .sort({ lastModified: -1 })
      .toArray();
    expect(byTime[0]?._id).toBe('q-a');
    expect(byTime.every((d) => d.lastModified instanceof Date)).toBe(true);

    const a = await states.findOne({ _id: 'q-a' as never });
    expect(a).toMatchObject({
      instanceId: 'q-a',
      version: 3,
      status: 'error',
      agentType: 'researcher',
      capabilities: ['web-search'],
      resourceAllocation: { gpuCount: 2 },
      modifiedBy: expect.any(String),
      checksum: expect.stringMatching(/^[0-9a-f]{64}$/),
      compression: { algorithm: expect.any(String), originalSize: expect.any(Number), compressedSize: expect.any(Number) },
    });
    expect(a?.timestamp).toBeInstanceOf(Date);
    expect(a).not.toHaveProperty('memory');
    const b = await states.findOne({ _id: 'q-b' as never });
    expect(b?.configuration).toEqual({ '%24odd%2Ekey': 'escaped' });
    const c = await states.findOne({ _id: 'q-c' as never });
    expect((c?.executionState as { taskHistory: Array<{ taskId: string }> }).taskHistory.map((t) => t.taskId)).toEqual(Array.from({ length: 20 }, (_, i) => `H-${i + 5}`));
  });

  it('reassembles every agent to the fold of its log (checksum verified), and query() / StateManager.query agree', async () => {
    const expected = await foldLog(w.log, w.prefix);
    const manager = new StateManager({ store, blobs: w.blobs });
    for (const [id, p] of expected) {
      const view = await manager.getCurrentState(id);
      expect(view?.checksum).toBe(p.checksum);
      expect(view?.state).toEqual(p.state);
    }
    expect((await manager.query({ status: 'error' })).agents.map((x) => x.instanceId)).toEqual(['q-a', 'q-c']);
    expect((await manager.query({ capability: 'code', agentType: 'coder' })).agents.map((x) => x.instanceId)).toEqual(['q-b', 'q-c']);
  });

  it('agentstate list --status error works on the servers profile', async () => {
    const { main } = await import('../../../src/cli/main.js');
    const saved = { db: process.env.AGENTSTATE_MONGO_DATABASE, uri: process.env.MONGODB_URI };
    process.env.AGENTSTATE_MONGO_DATABASE = store.connection.db.databaseName;
    process.env.MONGODB_URI = stackEnv().mongodbUri;
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => (lines.push(s), true)) as typeof process.stdout.write;
    let code: number;
    try {
      code = await main(['list', '--backend', 'servers', '--status', 'error', '--json']);
    } finally {
      process.stdout.write = write;
      for (const [k, v] of [
        ['AGENTSTATE_MONGO_DATABASE', saved.db],
        ['MONGODB_URI', saved.uri],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    expect(code).toBe(0);
    const page = JSON.parse(lines.join('')) as { agents: Array<{ instanceId: string; status: string }> };
    expect(page.agents.map((a) => [a.instanceId, a.status])).toEqual([
      ['q-a', 'error'],
      ['q-c', 'error'],
    ]);
  });

  it('mirrors events and snapshots with the seed field names', async () => {
    const db = mongo.db(store.connection.db.databaseName);
    const ev = await db.collection('state_events').findOne({ instanceId: 'q-b', sequenceNumber: 2 });
    expect(ev).toMatchObject({
      eventId: expect.any(String),
      eventType: 'state_patched',
      version: 2,
      replayable: true,
      replayAttempts: 0,
      lastReplayed: null,
      source: expect.any(String),
      eventData: { metadata: expect.any(Object) },
    });
    expect(ev?.timestamp).toBeInstanceOf(Date);
    const changes = (ev?.eventData as { changeset: Array<{ field: string; changeType: string; newValue?: unknown }> }).changeset;
    expect(changes).toContainEqual({ field: '/configuration/$odd.key', changeType: 'create', newValue: '"escaped"' });
    const snap = await db.collection('state_snapshots').findOne({ instanceId: 'q-a' });
    expect(snap).toMatchObject({
      snapshotId: expect.any(String),
      snapshotType: expect.stringMatching(/^(full|incremental)$/),
      trigger: 'scheduled',
      triggerDetail: expect.stringMatching(/^policy/),
      created_by: 'agentstate-projector',
      creationTime: expect.any(Number),
      size: { uncompressed: expect.any(Number), compressed: expect.any(Number), compressionRatio: expect.any(Number) },
      retentionPolicy: { permanent: false, critical: false },
    });
  });
});
