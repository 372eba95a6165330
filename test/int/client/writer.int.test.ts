import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStateClient, JsonEventCodec } from '../../../src/client/index.js';
import { fold, type StateEvent } from '../../../src/domain/index.js';
import { ConflictError, FencedError } from '../../../src/errors.js';
import { KafkaEventLog } from '../../../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { eventsByAgent } from '../../support/projection-check.js';

const codec = new JsonEventCodec();

/** Every event of the topic, per agent, in log order. */
const readAll = (log: KafkaEventLog, topic: string): Promise<Map<string, StateEvent[]>> => eventsByAgent(log, codec, topic);

describe('AgentStateClient on Kafka', () => {
  let log: KafkaEventLog;
  let prefix: string;

  beforeAll(async () => {
    log = new KafkaEventLog({ brokers: stackEnv().kafkaBrokers });
    prefix = `${uniqueName('w')}.`;
    const checks = await log.setup(topicSpecs({ prefix, partitions: 4 }));
    expect(checks.every((c) => c.status === 'created')).toBe(true);
  });
  afterAll(async () => {
    await log.close();
  });

  it('keeps per-agent order and contiguity: 200 agents x 50 concurrent updates', async () => {
    const client = await AgentStateClient.connect({ log, codec, topicPrefix: prefix });
    try {
      const ids = Array.from({ length: 200 }, (_, i) => `agent-${i}`);
      await Promise.all(ids.map((id) => client.createAgent(id, { agentType: 'worker' })));
      const results = await Promise.all(
        ids.flatMap((id) =>
          Array.from({ length: 50 }, (_, n) =>
            client.updateState(id, (draft) => {
              draft.memory[`note${n}`] = `step ${n} of ${id}`;
              draft.performance.updates = ((draft.performance.updates as number | undefined) ?? 0) + 1;
            }),
          ),
        ),
      );
      expect(results.every((r) => r.success)).toBe(true);
      // Each agent's 50 results hold versions 2..51, one each, in call order.
      for (let a = 0; a < ids.length; a++) {
        const versions = results.slice(a * 50, a * 50 + 50).map((r) => r.newVersion);
        expect(versions).toEqual(Array.from({ length: 50 }, (_, n) => n + 2));
      }
      const events = await readAll(log, topicNames(prefix).events);
      expect(events.size).toBe(200);
      for (const id of ids) {
        const list = events.get(id)!;
        expect(list.map((e) => e.version)).toEqual(Array.from({ length: 51 }, (_, n) => n + 1));
        const folded = fold(list);
        expect(folded.rejected).toEqual([]);
        expect(folded.projection?.checksum).toBe(client.getState(id)?.checksum);
        expect((folded.projection?.state as { performance: { updates: number } }).performance.updates).toBe(50);
      }
    } finally {
      await client.close();
    }
  });

  it('fences a zombie writer: none of its later events is applied and it gets FencedError', async () => {
    const a = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, source: 'A' });
    const b = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, source: 'B' });
    try {
      await a.createAgent('zombie-1', { agentType: 'worker' });
      await a.updateState('zombie-1', (d) => void (d.memory.owner = 'A'));
      const taken = await b.acquire('zombie-1');
      expect(taken.epoch).toBe(2);
      expect(taken.state.memory.owner).toBe('A');
      // A keeps writing: the log rejects it, and A learns it.
      await expect(a.updateState('zombie-1', (d) => void (d.memory.owner = 'A again'))).rejects.toBeInstanceOf(FencedError);
      await expect(a.updateState('zombie-1', (d) => void (d.memory.more = 1))).rejects.toBeInstanceOf(FencedError);
      expect(a.owns('zombie-1')).toBe(false);
      // A true zombie that has not heard of the claim: its event reaches the
      // log after B's claim, with the old epoch. The log rejects it.
      const stale: StateEvent = {
        ...(await readAll(log, topicNames(prefix).events)).get('zombie-1')![1]!,
        eventId: 'zombie-raw',
        version: 4 as StateEvent['version'],
        source: 'A',
      };
      await log.append(topicNames(prefix).events, [{ key: 'zombie-1', value: await codec.encode(stale) }]);
      const ok = await b.updateState('zombie-1', (d) => void (d.memory.owner = 'B'));
      expect(ok.newVersion).toBe(4);
      const list = (await readAll(log, topicNames(prefix).events)).get('zombie-1')!;
      const folded = fold(list);
      expect((folded.projection?.state as { memory: Record<string, unknown> }).memory).toEqual({ owner: 'B' });
      // A may have learned of the claim before appending, or had its events
      // rejected by the log (stale epoch, or a duplicate of the claim's
      // version): either way nothing of A's after the claim applies.
      const claim = list.findIndex((e) => e.eventType === 'ownership_acquired');
      expect(
        list
          .slice(claim + 1)
          .filter((e) => e.source === 'A')
          .every((e) => folded.rejected.some((r) => r.event.eventId === e.eventId && ['stale_epoch', 'duplicate'].includes(r.reason))),
      ).toBe(true);
      expect(folded.applied).toBe(4);
      expect(folded.rejected.find((r) => r.event.eventId === 'zombie-raw')?.reason).toBe('stale_epoch');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('fails fast with ConflictError on a wrong expectedVersion, and refuses to create an existing agent', async () => {
    const client = await AgentStateClient.connect({ log, codec, topicPrefix: prefix });
    try {
      await client.createAgent('cv-1', { agentType: 'worker' });
      await expect(client.updateState('cv-1', [], { expectedVersion: 7 })).rejects.toBeInstanceOf(ConflictError);
      const r = await client.updateState('cv-1', [{ path: '/status', op: 'update', newValue: 'running' }], { expectedVersion: 1 });
      expect(r.newVersion).toBe(2);
      expect(r.previousVersion).toBe(1);
      await expect(client.createAgent('cv-1', { agentType: 'worker' })).rejects.toBeInstanceOf(ConflictError);
    } finally {
      await client.close();
    }
  });
});
