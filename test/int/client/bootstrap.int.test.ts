import { afterEach, describe, expect, it } from 'vitest';
import { AgentStateClient } from '../../../src/client/index.js';
import { FencedError } from '../../../src/errors.js';
import { decodeState } from '../../../src/projector/index.js';
import { codec, foldLog, world, type World } from '../projector/harness.js';

const AGENTS = 40;
const UPDATES = 5;

/**
 * The fleet view (`scope: 'fleet'`, opt-in since the scoped view became the
 * default) connecting to a log the projector has processed starts from the
 * state topic and the projector's commits (issue 4: "latest projected state
 * or compacted state, then the tail of the events topic"), and lands exactly
 * at the head, as if it had folded the whole log.
 */
describe('fleet view bootstrapped from the projector outputs', () => {
  let w: World | undefined;
  const clients: AgentStateClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    await w?.close();
    w = undefined;
  });
  const connect = async (extra: Partial<Parameters<typeof AgentStateClient.connect>[0]> = {}): Promise<AgentStateClient> => {
    const c = await AgentStateClient.connect({ log: w!.log, codec, topicPrefix: w!.prefix, scope: 'fleet', ...extra });
    clients.push(c);
    return c;
  };
  const ids = Array.from({ length: AGENTS }, (_, i) => `boot-${i}`);

  /** Agents with history the projector has processed, then `tail` more updates it has not. */
  async function history(projectorOptions: Parameters<World['projector']>[1], tail: string[]): Promise<AgentStateClient> {
    w = await world(3);
    const a = await connect();
    await Promise.all(ids.map((id) => a.createAgent(id, { agentType: 'worker' })));
    for (let n = 0; n < UPDATES; n++) {
      await Promise.all(ids.map((id) => a.updateState(id, (d) => void (d.memory[`k${n}`] = `${id} says ${'x'.repeat(40)} ${n}`))));
    }
    await w.projector(await w.newStore(), projectorOptions).runUntilCaughtUp();
    for (const id of tail) await a.updateState(id, (d) => void (d.memory.tail = true));
    return a;
  }

  async function expectAtTheHead(c: AgentStateClient): Promise<void> {
    const expected = await foldLog(w!.log, w!.prefix);
    for (const id of ids) {
      const got = c.getState(id);
      const want = expected.get(id)!;
      expect({ v: got?.version, c: got?.checksum, s: got?.state }, id).toEqual({ v: want.version, c: want.checksum, s: want.state });
    }
  }

  it('folds only the events after the projector commits, lands at the head, and still fences the old owner', async () => {
    const tail = ids.slice(0, 10);
    const a = await history({}, tail);
    const b = await connect();
    expect(b.viewStats()).toMatchObject({ bootstrappedHeads: AGENTS, foldedRecords: tail.length });
    await expectAtTheHead(b);

    // B takes over an agent A owns and writes; A's next write is fenced.
    await b.acquire(ids[0]!);
    const r = await b.updateState(ids[0]!, (d) => void (d.memory.owner = 'b'));
    expect(r.newVersion).toBe(UPDATES + 4); // created, 5 updates, 1 tail update, B's claim, then this one
    await expect(a.updateState(ids[0]!, (d) => void (d.memory.owner = 'a'))).rejects.toBeInstanceOf(FencedError);

    // Without the bootstrap the client folds every record and reaches the same heads.
    const full = await connect({ bootstrap: false });
    expect(full.viewStats().bootstrappedHeads).toBe(0);
    expect(full.viewStats().foldedRecords).toBeGreaterThan(AGENTS * (UPDATES + 1));
    await expectAtTheHead(full);
  });

  it('folds a partition from the start when a state is claim-checked, unless the client can fetch it', async () => {
    await history({ claimCheckBytes: 64 }, []);
    const plain = await connect();
    expect(plain.viewStats().bootstrappedHeads).toBe(0);
    await expectAtTheHead(plain);

    const blobs = w!.blobs;
    const fetching = await connect({
      bootstrap: {
        resolveClaimCheck: async (v) => decodeState(v.claimCheck.encoding, (await blobs.get(v.claimCheck.blobKey))!),
      },
    });
    expect(fetching.viewStats()).toMatchObject({ bootstrappedHeads: AGENTS, foldedRecords: 0 });
    await expectAtTheHead(fetching);
  });

  it('folds from the start when no projector has committed anything', async () => {
    w = await world(3);
    const a = await connect();
    await Promise.all(ids.slice(0, 5).map((id) => a.createAgent(id, { agentType: 'worker' })));
    const b = await connect();
    expect(b.viewStats()).toMatchObject({ bootstrappedHeads: 0, foldedRecords: 5 });
    expect(b.getState(ids[0]!)?.version).toBe(1);
  });
});
