import { generateState } from '../../src/corpus/generate.js';
import { Random, loadTextSources, proseSpan } from '../../src/corpus/index.js';
import { checksum, diff, epoch, instanceId as asInstanceId, produceWithChanges, stateAsJson, version, type JsonObject, type JsonValue, type StateEvent } from '../../src/domain/index.js';

/**
 * The chat-window workload of issue 11 as events: each agent starts at a
 * ~22 KB state (a ~4 KB corpus state plus a window of 22 turns of ~1 KB real
 * text), and every later event appends a turn, drops the oldest, bumps a
 * counter and flips the status, as `AgentStateClient.updateState` would write
 * it (draft changeset, incremental checksum). Agent `a` uses seed 5000 + a.
 */
/** Turns in the window: ~22 KB states with the corpus base. */
const WINDOW = 22;

export function chatWindowEvents(agents: number, perAgent: number): StateEvent[][] {
  const text = loadTextSources();
  return Array.from({ length: agents }, (_, a) => {
    const rnd = new Random(5000 + a);
    const turn = (i: number): JsonObject => {
      let content = '';
      while (content.length < 900) content += proseSpan(text, rnd, 2) + ' ';
      return { id: `msg_${i}`, role: i % 2 ? 'assistant' : 'user', content: content.slice(0, 900), createdAt: 1_760_000_000_000 + i, tokenCount: 200 };
    };
    const base = stateAsJson(generateState({ seed: 5000 + a, targetBytes: 4096 }));
    const instanceId = asInstanceId(base.instanceId as string);
    (base.memory as JsonObject) = { conversation: Array.from({ length: WINDOW }, (_, i) => turn(i)), turns: WINDOW };
    let state: JsonObject = base;
    const events: StateEvent[] = [];
    const event = (v: number, next: JsonObject, changeset: StateEvent['changeset']): StateEvent => ({
      eventId: rnd.uuid(),
      instanceId,
      version: version(v),
      writerEpoch: epoch(1),
      timestamp: 1_760_000_000_000 + v * 1000,
      eventType: v === 1 ? 'instance_created' : 'memory_updated',
      source: 'bench-chat',
      causationId: null,
      correlationId: rnd.uuid(),
      changeset,
      metadata: {},
      stateChecksum: checksum(next),
      replay: null,
      replayable: true,
    });
    events.push(event(1, state, diff({}, state)));
    for (let v = 2; v <= perAgent; v++) {
      const t = turn(WINDOW - 1 + v);
      const { next, changes } = produceWithChanges(state as JsonValue, (d) => {
        const s = d as { memory: { conversation: JsonValue[]; turns: number }; status: string };
        s.memory.conversation.push(t);
        s.memory.conversation.shift();
        s.memory.turns += 1;
        s.status = v % 2 ? 'running' : 'idle';
      });
      state = next as JsonObject;
      events.push(event(v, state, changes));
    }
    return events;
  });
}
