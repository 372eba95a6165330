import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStateClient } from '../../../src/client/index.js';
import { resetProjectorGroup } from '../../../src/projector/index.js';
import { codec, foldLog, storedProjections, world, type World } from './harness.js';

const AGENTS = 500; // issue 5: 500 agents, tens of thousands of events (20,500)
const UPDATES = 40;

describe('projector rebuild by offset reset', () => {
  let w: World;

  beforeAll(async () => {
    w = await world(3);
    const client = await AgentStateClient.connect({ log: w.log, codec, topicPrefix: w.prefix });
    try {
      const ids = Array.from({ length: AGENTS }, (_, i) => `agent-${i}`);
      await Promise.all(ids.map((id) => client.createAgent(id, { agentType: i(id) % 2 ? 'worker' : 'planner' })));
      for (let round = 0; round < UPDATES; round++) {
        await Promise.all(
          ids.map((id) =>
            client.updateState(id, (d) => {
              d.memory[`k${round % 7}`] = `round ${round} of ${id}`;
              d.performance.updates = ((d.performance.updates as number | undefined) ?? 0) + 1;
              // A few agents grow large, to exercise compression and the claim check.
              if (i(id) % 50 === 0) d.memory[`blob${round}`] = `${id}:${round}:`.repeat(200);
            }),
          ),
        );
      }
    } finally {
      await client.close();
    }
  }, 300_000);
  afterAll(async () => {
    await w.close();
  });

  it('projects every agent to the fold of its log, and a rebuild into a fresh database equals it checksum for checksum', { timeout: 480_000 }, async () => {
    const expected = await foldLog(w.log, w.prefix);
    expect(expected.size).toBe(AGENTS);
    const first = await w.newStore();
    const t0 = performance.now();
    await w.projector(first, { claimCheckBytes: 16 * 1024, snapshots: { everyEvents: 40 } }).runUntilCaughtUp();
    const projectMs = performance.now() - t0;
    const projected = await storedProjections(first, w.blobs, [...expected.keys()]);
    for (const [id, p] of expected) expect(projected.get(id), id).toEqual(p);
    expect((await first.counts()).events).toBe(AGENTS * (UPDATES + 1));
    // A claim-checked state: pointer in the row, body in the blob store.
    expect((await first.getState('agent-0'))?.blobKey).toMatch(/^states\/agent-0\//);

    // Replay: reset the group to earliest, rebuild into an empty database.
    await resetProjectorGroup({ log: w.log, group: `${w.prefix}projector`, target: { to: 'earliest' }, topicPrefix: w.prefix });
    const rebuilt = await w.newStore();
    const t1 = performance.now();
    await w.projector(rebuilt, { claimCheckBytes: 16 * 1024, snapshots: { everyEvents: 40 } }).runUntilCaughtUp();
    const rebuildMs = performance.now() - t1;
    const ids = [...expected.keys()];
    const before = await first.getStates(ids);
    const after = await rebuilt.getStates(ids);
    for (const id of ids) {
      const a = before.get(id);
      const b = after.get(id);
      expect({ v: b?.version, c: b?.checksum, body: b?.body, key: b?.blobKey }).toEqual({ v: a?.version, c: a?.checksum, body: a?.body, key: a?.blobKey });
    }
    expect(await rebuilt.counts()).toEqual(await first.counts());
    const events = AGENTS * (UPDATES + 1);
    console.info(
      `[rebuild] projected ${events} events in ${projectMs.toFixed(0)} ms (${((events / projectMs) * 1000).toFixed(0)} ev/s); rebuild ${rebuildMs.toFixed(0)} ms (${((events / rebuildMs) * 1000).toFixed(0)} ev/s)`,
    );
  });
});

function i(id: string): number {
  return Number(id.slice('agent-'.length));
}
