import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStateClient } from '../../../src/client/index.js';
import { fold, type StateEvent } from '../../../src/domain/index.js';
import { topicNames } from '../../../src/log/topics.js';
import { DLQ_HEADER, MetricsRegistry } from '../../../src/projector/index.js';
import { codec, readEvents, storedProjection, world, type World } from './harness.js';

describe('projector rejections', () => {
  let w: World;
  beforeAll(async () => {
    w = await world(2);
  });
  afterAll(async () => {
    await w.close();
  });

  it('sends a gap, a duplicate, a checksum mismatch and a stale epoch to the DLQ with the reason, and never changes state', async () => {
    const topics = topicNames(w.prefix);
    const a = await AgentStateClient.connect({ log: w.log, codec, topicPrefix: w.prefix, source: 'A' });
    const b = await AgentStateClient.connect({ log: w.log, codec, topicPrefix: w.prefix, source: 'B' });
    const id = 'rej-1';
    const crafted = async (event: StateEvent): Promise<void> => {
      await w.log.append(topics.events, [{ key: id, value: await codec.encode(event) }]);
    };
    try {
      await a.createAgent(id, { agentType: 'worker' });
      await a.updateState(id, (d) => void (d.memory.n = 1));
      await a.updateState(id, (d) => void (d.memory.n = 2));
      const ev = (await readEvents(w.log, w.prefix)).get(id)!;
      const v3 = ev[2]!;
      await crafted({ ...ev[1]!, eventId: 'dup' }); // version 2 again
      await crafted({ ...v3, eventId: 'gap', version: 9 as StateEvent['version'] });
      await crafted({
        ...v3,
        eventId: 'bad-sum',
        version: 4 as StateEvent['version'],
        changeset: [{ path: '/memory/n', op: 'update', oldValue: 2, newValue: 99 }],
        stateChecksum: 'f'.repeat(64),
      });
      await b.acquire(id); // version 4, epoch 2: A is fenced
      await crafted({ ...v3, eventId: 'stale', version: 5 as StateEvent['version'], changeset: [], stateChecksum: v3.stateChecksum });
      await b.updateState(id, (d) => void (d.memory.n = 3)); // version 5, accepted
    } finally {
      await a.close();
      await b.close();
    }

    const store = await w.newStore();
    const metrics = new MetricsRegistry();
    await w.projector(store, { metrics }).runUntilCaughtUp();

    const events = (await readEvents(w.log, w.prefix)).get(id)!;
    const expected = fold(events);
    expect(expected.rejected.map((r) => [r.event.eventId, r.reason])).toEqual([
      ['dup', 'duplicate'],
      ['gap', 'gap'],
      ['bad-sum', 'checksum_mismatch'],
      ['stale', 'stale_epoch'],
    ]);
    const got = await storedProjection(store, w.blobs, id);
    expect(got).toEqual(expected.projection);
    expect(got?.version).toBe(5);
    expect(got?.epoch).toBe(2);
    expect((got?.state as { memory: { n: number } }).memory.n).toBe(3);
    // No rejected event is in the history mirror.
    const mirrored = (await store.queryEvents({ instanceId: id })).map((e) => e.eventId);
    expect(mirrored).toHaveLength(5);
    expect(mirrored).not.toContain('dup');

    const dlqEnd = await w.log.endOffsets(topics.dlq);
    const dlq = [];
    for (const [p, end] of Object.entries(dlqEnd)) dlq.push(...(await w.log.read(topics.dlq, Number(p), '0', end)));
    const reasons = dlq.map((r) => [r.headers[DLQ_HEADER.eventId], r.headers[DLQ_HEADER.reason]]).sort();
    expect(reasons).toEqual([
      ['bad-sum', 'checksum_mismatch'],
      ['dup', 'duplicate'],
      ['gap', 'gap'],
      ['stale', 'stale_epoch'],
    ]);
    for (const r of dlq) {
      expect(r.key).toBe(id);
      expect(r.headers[DLQ_HEADER.topic]).toBe(topics.events);
      expect((await codec.decode(r.value!)).eventId).toBe(r.headers[DLQ_HEADER.eventId]);
    }
    expect(metrics.value('agentstate_projector_rejects_total', { reason: 'gap' })).toBe(1);
    expect(metrics.value('agentstate_projector_events_total', { result: 'applied' })).toBe(5);
  });
});
