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

/**
 * The scoped writer (docs/writer.md "Scoped writers"): heads only for its own
 * agents, owners' writes decided from the broker's ack plus the claim feed.
 * Every guarantee of the fleet view must hold: success means the log accepts
 * the event, and a fenced owner gets FencedError.
 */
describe('AgentStateClient with scope: owned', () => {
  let log: KafkaEventLog;
  let prefix: string;
  const scoped = (source: string) => AgentStateClient.connect({ log, codec, topicPrefix: prefix, source, scope: 'owned' });

  beforeAll(async () => {
    log = new KafkaEventLog({ brokers: stackEnv().kafkaBrokers });
    prefix = `${uniqueName('ws')}.`;
    await log.setup(topicSpecs({ prefix, partitions: 3 }));
  });
  afterAll(async () => {
    await log.close();
  });

  it('writes in order with every write accepted by the log, and knows only its own agents', async () => {
    const a = await scoped('A');
    try {
      const ids = Array.from({ length: 30 }, (_, i) => `s-${i}`);
      await Promise.all(ids.map((id) => a.createAgent(id, { agentType: 'worker' })));
      const results = await Promise.all(ids.flatMap((id) => Array.from({ length: 10 }, (_, n) => a.updateState(id, (d) => void (d.memory[`n${n}`] = `${id} ${n}`)))));
      for (let i = 0; i < ids.length; i++) expect(results.slice(i * 10, i * 10 + 10).map((r) => r.newVersion)).toEqual(Array.from({ length: 10 }, (_, n) => n + 2));
      const events = await readAll(log, topicNames(prefix).events);
      for (const id of ids) {
        const folded = fold(events.get(id)!);
        expect(folded.rejected).toEqual([]);
        expect(folded.projection?.checksum).toBe(a.getState(id)?.checksum);
      }
      // A second scoped client reads nothing at connect and holds only what it acquires.
      const b = await scoped('B');
      try {
        expect(b.viewStats()).toMatchObject({ trackedAgents: 0, bytesRead: 0, foldedRecords: 0 });
        expect(b.getState('s-3')).toBeUndefined();
        await b.acquire('s-3');
        expect(b.viewStats().trackedAgents).toBe(1);
        expect(b.getState('s-3')?.version).toBe(12);
        await expect(b.createAgent('s-4', { agentType: 'worker' })).rejects.toBeInstanceOf(ConflictError);
        await b.release('s-3');
        expect(b.viewStats().trackedAgents).toBe(1); // s-4, looked at for the refused create
      } finally {
        await b.close();
      }
    } finally {
      await a.close();
    }
  });

  it('fences a scoped owner: on its next write, and while idle, whether the new owner is scoped or not', async () => {
    const a = await scoped('A');
    const b = await scoped('B');
    const fleet = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, source: 'F' });
    try {
      for (const id of ['z-1', 'z-2', 'z-3']) {
        await a.createAgent(id, { agentType: 'worker' });
        await a.updateState(id, (d) => void (d.memory.owner = 'A'));
      }
      // A claim by a scoped client: A's next write is refused by the log and A learns it.
      expect((await b.acquire('z-1')).epoch).toBe(2);
      await expect(a.updateState('z-1', (d) => void (d.memory.owner = 'A again'))).rejects.toBeInstanceOf(FencedError);
      expect(a.owns('z-1')).toBe(false);
      expect((await b.updateState('z-1', (d) => void (d.memory.owner = 'B'))).newVersion).toBe(4);
      // A claim by a fleet client (it announces its claims too).
      await fleet.acquire('z-2');
      await expect(a.updateState('z-2', (d) => void (d.memory.owner = 'A again'))).rejects.toBeInstanceOf(FencedError);
      // An idle owner learns of the claim from the feed, without writing.
      await b.acquire('z-3');
      const until = Date.now() + 10_000;
      while (a.owns('z-3') && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(a.owns('z-3')).toBe(false);

      const events = await readAll(log, topicNames(prefix).events);
      for (const id of ['z-1', 'z-2', 'z-3']) {
        const list = events.get(id)!;
        const folded = fold(list);
        const claim = list.findIndex((e) => e.eventType === 'ownership_acquired');
        // Nothing of A's after the claim is applied.
        expect(
          list
            .slice(claim + 1)
            .filter((e) => e.source === 'A')
            .every((e) => folded.rejected.some((r) => r.event.eventId === e.eventId)),
        ).toBe(true);
      }
      expect((fold(events.get('z-1')!).projection?.state as { memory: Record<string, unknown> }).memory).toEqual({ owner: 'B' });
    } finally {
      await Promise.all([a.close(), b.close(), fleet.close()]);
    }
  });
});
