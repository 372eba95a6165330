import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { MemoryCache } from '../../../src/cache/memory.js';
import { AgentStateClient, JsonEventCodec } from '../../../src/client/index.js';
import { UnavailableError } from '../../../src/errors.js';
import type { EventLog } from '../../../src/log/port.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { parseStateTopicValue } from '../../../src/log/state-topic.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { Projector } from '../../../src/projector/index.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-derived-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const prefix = 't.';
const topics = topicNames(prefix);

/** Appends to the state topic refused so far by {@link stateTopicDown}. */
let stateTopicFailures = 0;

/** The same log, except that appends to the state topic fail (an outage of that one sink). */
function stateTopicDown(log: EventLog): EventLog {
  return new Proxy(log, {
    get(target, prop, receiver) {
      if (prop === 'append') {
        return (topic: string, records: unknown[]) => {
          if (topic !== topics.state) return target.append(topic, records as never);
          stateTopicFailures++;
          return Promise.reject(new UnavailableError('state topic (test outage)'));
        };
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('projector derived outputs after a partial batch', () => {
  it('writes the state topic for records a restarted projector skips as already stored', async () => {
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite') });
    await log.setup(topicSpecs({ prefix, partitions: 2 }));
    const store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
    await store.setup();
    const blobs = new FsBlobStore({ dir: join(dir, 'blobs') });
    const codec = new JsonEventCodec();
    const ids = Array.from({ length: 20 }, (_, i) => `d-${i}`);
    const writer = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, bootstrap: false });
    try {
      await Promise.all(ids.map((id) => writer.createAgent(id, { agentType: 'worker' })));
      for (let n = 0; n < 3; n++) await Promise.all(ids.map((id) => writer.updateState(id, (d) => void (d.memory.n = n))));
    } finally {
      await writer.close();
    }
    const options = { codec, store, blobs, cache: new MemoryCache(), topicPrefix: prefix, retryWindowMs: 100, restartDelayMs: 50, sweepIntervalMs: 0 };

    // First projector: the store write of each batch holds, the state topic append does not, so nothing commits.
    const stop = new AbortController();
    const first = new Projector({ ...options, log: stateTopicDown(log) }).run(stop.signal);
    // (One consumer per group: it retries the failing partition and never reaches the other.)
    let stored = 0;
    for (let i = 0; stored === 0; i++) {
      expect(i, 'the store never received a batch').toBeLessThan(200);
      await sleep(50);
      stored = [...(await store.getStates(ids)).values()].filter((s) => s.version === 4).length;
    }
    // A few more failed attempts: wait until the state-topic append has failed three more times.
    const failedBefore = stateTopicFailures;
    for (let i = 0; stateTopicFailures < failedBefore + 3; i++) {
      expect(i, 'the projector stopped retrying').toBeLessThan(200);
      await sleep(50);
    }
    stop.abort();
    await first;
    expect(await log.endOffsets(topics.state)).toEqual({ 0: '0', 1: '0' });

    // A new process: its heads come from the store, ahead of every record it is redelivered.
    await new Projector({ ...options, log }).runUntilCaughtUp(undefined, 50);
    const latest = new Map<string, number>();
    for (const [p, end] of Object.entries(await log.endOffsets(topics.state))) {
      for (const r of await log.read(topics.state, Number(p), '0', end)) {
        const v = parseStateTopicValue(r.value!);
        if (v) latest.set(v.instanceId, Math.max(latest.get(v.instanceId) ?? 0, v.version));
      }
    }
    expect(Object.fromEntries(latest)).toEqual(Object.fromEntries(ids.map((id) => [id, 4])));
    await blobs.close();
    await store.close();
    await log.close();
  });
});
