import { diff } from '../domain/changeset.js';
import { checksum } from '../domain/checksum.js';
import type { StateEvent } from '../domain/event.js';
import { epoch, version } from '../domain/ids.js';
import type { JsonValue } from '../domain/json.js';
import { stateAsJson } from '../domain/state.js';
import { generateState } from './generate.js';
import { Random } from './random.js';

/**
 * A contiguous, valid event log for one agent: `count` events, each appending
 * the conversation turns and tool calls of a growing realistic state, with
 * correct changesets and checksums (so `fold` accepts all of them). For codec
 * and projector benchmarks and tests.
 */
export function generateEvents(seed: number, count: number, finalBytes = 64 * 1024): StateEvent[] {
  const rnd = new Random(seed);
  const events: StateEvent[] = [];
  let prev: JsonValue = {};
  for (let v = 1; v <= count; v++) {
    const target = Math.round((finalBytes * v) / count);
    // Same seed for every step: each state extends the previous one's conversation.
    const next = stateAsJson(generateState({ seed, targetBytes: target }));
    events.push({
      eventId: rnd.uuid(),
      instanceId: generateState({ seed, targetBytes: 0 }).instanceId,
      version: version(v),
      writerEpoch: epoch(1),
      timestamp: 1_760_000_000_000 + v * 1000,
      eventType: v === 1 ? 'instance_created' : 'memory_updated',
      source: 'corpus',
      causationId: null,
      correlationId: rnd.uuid(),
      changeset: diff(prev, next),
      metadata: { generator: 'agentstate-corpus' },
      stateChecksum: checksum(next),
      replay: null,
      replayable: true,
    });
    prev = next;
  }
  return events;
}
