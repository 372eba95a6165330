/**
 * The fleet the read benchmark reads: `agents` heads of ~2 KB in
 * `agent_states` (the projector's row format) and `eventsPerAgent` mirrored
 * events each in `state_events` (~600 B of real prose per event), written to
 * the store directly so the setup costs seconds, not a projector run.
 */
import { canonicalJson, checksum, initialState, instanceId, stateAsJson, type StateEvent } from '../../src/domain/index.js';
import { storedEvent } from '../../src/store/stored-event.js';
import { loadTextSources, proseSpan, Random } from '../../src/corpus/index.js';
import { encodeState } from '../../src/codec/state-body.js';
import type { StateStore, StoredEvent, StoredState } from '../../src/store/port.js';
import { splitState } from '../../src/store/state-fields.js';

const T0 = 1_760_000_000_000;

/** Writes the fleet; returns the agent ids. */
export async function writeReadFleet(store: StateStore, agents: number, eventsPerAgent: number, seed = 7): Promise<string[]> {
  const rnd = new Random(seed);
  const text = loadTextSources();
  const ids = Array.from({ length: agents }, (_, i) => `reader-${String(i).padStart(5, '0')}`);
  for (let i = 0; i < ids.length; i += 250) {
    const states: StoredState[] = [];
    const events: StoredEvent[] = [];
    for (const id of ids.slice(i, i + 250)) {
      const state = stateAsJson(initialState(instanceId(id), 'worker', T0, { status: 'running' }));
      (state.memory as Record<string, string>).notes = proseSpan(text, rnd, 12, 1500 + rnd.int(0, 500));
      const { fields, residual } = splitState(state);
      const body = await encodeState(residual);
      states.push({
        instanceId: id,
        version: eventsPerAgent,
        epoch: 1,
        checksum: checksum(state),
        agentType: 'worker',
        status: 'running',
        fields,
        modifiedBy: 'bench',
        encoding: body.encoding,
        body: body.bytes,
        blobKey: null,
        position: { partition: 0, offset: '0' },
        lastEventId: `e-${id}-${eventsPerAgent}`,
        lastEventType: 'state_patched',
        updatedAt: T0,
        createdAt: T0,
      });
      for (let v = 1; v <= eventsPerAgent; v++) {
        const event = {
          eventId: `e-${id}-${v}`,
          instanceId: id,
          version: v,
          writerEpoch: 1,
          // A record every reader decodes as a StateEvent (the fields the codec checks; the one reading
          // of the log rejects anything else, and getEventHistory would then return fewer events).
          eventType: 'state_patched',
          source: 'bench',
          timestamp: T0 + v * 1000,
          changeset: [{ op: 'update', path: '/memory/notes', newValue: proseSpan(text, rnd, 4, 600) }],
          metadata: {},
          replayable: true,
          stateChecksum: `sha256:${v}`,
        };
        events.push(storedEvent(event as unknown as StateEvent, { partition: 0, offset: String(v) }, Buffer.from(canonicalJson(event), 'utf8')));
      }
    }
    await store.writeBatch({ states, events });
  }
  return ids;
}

/** Zipf(s) sampler over ranks 0..n-1 by inverse CDF. */
export function zipf(n: number, s: number, rnd: Random): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / Math.pow(i + 1, s);
  return () => {
    const u = rnd.next() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** The p-th percentile of sorted values (NaN when empty). */
export function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
