import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStateClient } from '../../../src/client/index.js';
import { RedisCache } from '../../../src/cache/redis.js';
import { topicNames } from '../../../src/log/topics.js';
import { MetricsRegistry, Projector, decodeCached, stateCacheKey } from '../../../src/projector/index.js';
import { MongoStore } from '../../../src/store/mongo/index.js';
import { codec, foldLog, storedProjection, waitCaughtUp, world, type World } from './harness.js';
import { OwnedServer } from './servers.js';

describe('projector with MongoDB and Redis unavailable for a while', () => {
  let w: World;
  let redis: OwnedServer;
  let mongo: OwnedServer;

  beforeAll(async () => {
    w = await world(2);
    [redis, mongo] = await Promise.all([OwnedServer.redis(), OwnedServer.ferret()]);
  });
  afterAll(async () => {
    await w.close();
    await Promise.all([redis.dispose(), mongo.dispose()]);
  });

  it('waits and retries without committing past unwritten data, then catches up', async () => {
    const events = topicNames(w.prefix).events;
    const group = `${w.prefix}outage`;
    const store = await MongoStore.connect({
      uri: `mongodb://127.0.0.1:${mongo.port}/`,
      database: 'outage',
      clientOptions: { serverSelectionTimeoutMS: 1000 },
    });
    await store.setup();
    const cache = new RedisCache({ url: `redis://127.0.0.1:${redis.port}`, prefix: 'o:' });
    const metrics = new MetricsRegistry();
    // Every log line, as JSON: restarts must be visible at warn with their reason (issue 12 §1).
    const lines: Array<{ level: number; msg: string; reason?: string; attempt?: number; delayMs?: number }> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const projector = new Projector({
      log: w.log,
      codec,
      store,
      blobs: w.blobs,
      cache,
      topicPrefix: w.prefix,
      group,
      retryWindowMs: 3000,
      restartDelayMs: 500,
      sessionTimeoutMs: 6000,
      sweepIntervalMs: 0,
      metrics,
      logger,
    });
    const stop = new AbortController();
    const running = projector.run(stop.signal);
    const writer = await AgentStateClient.connect({ log: w.log, codec, topicPrefix: w.prefix });
    const ids = Array.from({ length: 20 }, (_, i) => `out-${i}`);
    try {
      await Promise.all(ids.map((id) => writer.createAgent(id, { agentType: 'worker' })));
      await waitCaughtUp(projector, 30_000);
      const committedBefore = await w.log.committedOffsets(group, events);

      await Promise.all([mongo.stop(), redis.stop()]);
      for (let n = 0; n < 3; n++) await Promise.all(ids.map((id) => writer.updateState(id, (d) => void (d.memory.n = n))));
      // Wait for the signal, not a time: two whole attempts (each a full retry window) gave up.
      const restartsBefore = metrics.value('agentstate_projector_restarts_total');
      for (let i = 0; metrics.value('agentstate_projector_restarts_total') < restartsBefore + 2; i++) {
        expect(i, 'the projector never gave up on the dead sinks').toBeLessThan(600);
        await sleep(100);
      }
      // Each restart (it will be retried) is one warn line naming the failure, with its attempt and a pause that grows; none at error.
      const restarts = lines.filter((l) => l.msg === 'projector consumer failed; restarting');
      expect(restarts.length).toBeGreaterThanOrEqual(2);
      for (const r of restarts) {
        expect(r.level, JSON.stringify(r)).toBe(40);
        expect(r.reason, JSON.stringify(r)).toMatch(/\S/);
      }
      expect(restarts.map((r) => r.delayMs)).toEqual([...restarts.map((r) => r.delayMs)].sort((a, b) => a! - b!));
      expect(restarts.at(-1)!.delayMs).toBeGreaterThan(restarts[0]!.delayMs!);
      expect(lines.filter((l) => l.level >= 50)).toEqual([]);
      // Nothing could be written, so nothing may be committed (DESIGN.md Invariant 4).
      expect(await w.log.committedOffsets(group, events)).toEqual(committedBefore);

      await Promise.all([mongo.start(), redis.start()]);
      await waitCaughtUp(projector, 60_000);
      const expected = await foldLog(w.log, w.prefix);
      for (const id of ids) {
        expect(await storedProjection(store, w.blobs, id), id).toEqual(expected.get(id));
        const cached = await cache.get(stateCacheKey(id));
        expect(decodeCached(cached!).header.version).toBe(4);
      }
      expect(metrics.value('agentstate_projector_restarts_total')).toBeGreaterThan(0);
    } finally {
      stop.abort();
      await running;
      await writer.close();
      await cache.close();
      await store.close();
    }
  });
});
