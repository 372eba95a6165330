import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import type { AgentStateClient } from '../../src/client/index.js';
import type { StateManager } from '../../src/manager/index.js';
import type { StateStore } from '../../src/store/port.js';

export interface ReadRaceOptions {
  /** Owns every agent in `ids` (created here). */
  writer: AgentStateClient;
  manager: StateManager;
  /** The store the projector writes: read directly before some reads, as the floor they must reach. */
  store: StateStore;
  ids: string[];
  /** How long writers and readers run. */
  durationMs: number;
  /** Concurrent read loops. */
  readers: number;
  /**
   * Each reader hands the event loop over (setImmediate) after this many reads,
   * as a server whose reads arrive over a socket does. 0 = never: the readers
   * rely on the library to yield.
   */
  paceEvery: number;
  /** Pause of each writer between its writes (keeps the load within what the projector sustains). */
  thinkMs: number;
  /** Bytes of filler in each state, so encoding and snapshots cost something. @default 2048 */
  fillerBytes?: number;
}

/** What one race saw. A backward read is a violation of the read-consistency guarantee. */
export interface ReadRaceResult {
  writes: number;
  reads: number;
  minVersionReads: number;
  /** Reads checked against a store read issued just before them. */
  storeCheckedReads: number;
  /** Reads that returned less than a read of the same agent that had completed before they started. */
  backward: number;
  /** Reads that returned less than the store held when they started. */
  behindStore: number;
  /** Largest distance of a backward (or behind-store) read. */
  maxBehind: number;
  /** A few violations, for the failure message. */
  examples: string[];
}

/**
 * Writers append to every agent concurrently (one update loop per agent),
 * while readers hammer `getCurrentState` of random agents: plain reads, reads
 * with `minVersion` = the writer's last acknowledged version (read-your-writes),
 * and plain reads preceded by a direct store read. Counts every read that went
 * back in time (docs/projector.md, Read consistency). Deadlines are wall-clock
 * checks, not timers, so a reader that never yields cannot hang the race.
 */
export async function readRace(o: ReadRaceOptions): Promise<ReadRaceResult> {
  const filler = randomBytes(Math.ceil((o.fillerBytes ?? 2048) / 2)).toString('hex');
  const result: ReadRaceResult = { writes: 0, reads: 0, minVersionReads: 0, storeCheckedReads: 0, backward: 0, behindStore: 0, maxBehind: 0, examples: [] };
  const acked = new Map<string, number>();
  /** Highest version any completed read of this manager returned, per agent. */
  const returned = new Map<string, number>();
  const note = (what: string, behind: number): void => {
    result.maxBehind = Math.max(result.maxBehind, behind);
    if (result.examples.length < 10) result.examples.push(what);
  };

  for (const id of o.ids) acked.set(id, (await o.writer.createAgent(id, { agentType: 'racer' })).newVersion);
  const deadline = Date.now() + o.durationMs;
  // Readers keep going a moment after the last write: the projector catches up under their load.
  const readUntil = deadline + 500;

  const writerLoop = async (id: string): Promise<void> => {
    for (let n = 0; Date.now() < deadline; n++) {
      const r = await o.writer.updateState(id, (d) => {
        d.memory.n = n;
        d.memory.filler = `${n}:${filler}`;
      });
      acked.set(id, r.newVersion);
      result.writes++;
      // An agent thinks between writes (and the embedded log's synchronous appends would otherwise starve the readers).
      await sleep(o.thinkMs);
    }
  };

  const readerLoop = async (r: number): Promise<void> => {
    for (let i = 0; Date.now() < readUntil; i++) {
      const id = o.ids[Math.floor(Math.random() * o.ids.length)]!;
      const mode = r % 3; // 0 plain, 1 minVersion, 2 store-checked plain: one kind per reader, so waits of one kind do not slow the others
      const floor = returned.get(id) ?? 0;
      const storeFloor = mode === 2 ? ((await o.store.getState(id))?.version ?? 0) : 0;
      const view = mode === 1 ? await o.manager.getCurrentState(id, { minVersion: acked.get(id) ?? 1 }) : await o.manager.getCurrentState(id);
      const v = view?.version ?? 0;
      result.reads++;
      if (mode === 1) result.minVersionReads++;
      if (mode === 2) result.storeCheckedReads++;
      if (v < floor) {
        result.backward++;
        note(`${id}: read ${v} (${view?.source}) after a read had returned ${floor}`, floor - v);
      }
      if (v < storeFloor) {
        result.behindStore++;
        note(`${id}: read ${v} (${view?.source}) while the store held ${storeFloor}`, storeFloor - v);
      }
      if (v > (returned.get(id) ?? 0)) returned.set(id, v);
      if (o.paceEvery > 0 && i % o.paceEvery === o.paceEvery - 1) await new Promise((resolve) => setImmediate(resolve));
    }
  };

  const readers = Array.from({ length: o.readers }, (_, r) => readerLoop(r));
  const writers = o.ids.map(writerLoop);
  await Promise.all([...writers, ...readers]);
  return result;
}
