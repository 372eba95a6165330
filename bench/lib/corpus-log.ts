import type { EventCodec } from '../../src/client/index.js';
import { generateEvents } from '../../src/corpus/index.js';
import type { StateEvent } from '../../src/domain/index.js';
import type { EventLog } from '../../src/log/port.js';

/**
 * Realistic events for the projection benchmarks (project, replay): per agent,
 * `perAgent` events whose states grow to `finalBytes` (src/corpus). Agent `a`
 * uses seed 1000 + a, so runs with the same sizes write the same histories.
 */
export function corpusEvents(agents: number, perAgent: number, finalBytes = 8 * 1024): StateEvent[][] {
  return Array.from({ length: agents }, (_, a) => generateEvents(1000 + a, perAgent, finalBytes));
}

/**
 * Appends the histories round-robin: version 1 of every agent, then version 2,
 * and so on, in appends of `chunk` records keyed by agent. Each partition so
 * holds a mix of agents, and since corpus timestamps depend only on the
 * version, record timestamps never decrease along a partition (a reset to a
 * timestamp lands on a clean version boundary). Returns how many were written.
 */
export async function appendRoundRobin(log: EventLog, codec: EventCodec, topic: string, histories: readonly StateEvent[][], chunk = 500): Promise<number> {
  const rounds = Math.max(0, ...histories.map((h) => h.length));
  let written = 0;
  for (let v = 0; v < rounds; v++) {
    const round = histories.flatMap((h) => h.slice(v, v + 1));
    for (let i = 0; i < round.length; i += chunk) {
      const part = round.slice(i, i + chunk);
      await log.append(topic, await Promise.all(part.map(async (e) => ({ key: e.instanceId, value: await codec.encode(e), timestamp: e.timestamp }))));
      written += part.length;
    }
  }
  return written;
}
