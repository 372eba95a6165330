import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../../src/blob/s3.js';
import { AgentStateClient } from '../../../src/client/index.js';
import { MetricsRegistry, Projector } from '../../../src/projector/index.js';
import { codec, waitCaughtUp, world, type World } from './harness.js';
import { OwnedServer } from './servers.js';

/** Issue 12 §5: an S3 outage longer than the retry window must not lose a policy snapshot. */
describe('projector with S3 down past its retry window', () => {
  let w: World;
  let s3: OwnedServer;
  beforeAll(async () => {
    w = await world(2);
    s3 = await OwnedServer.s3();
  });
  afterAll(async () => {
    await w.close();
    await s3.dispose();
  });

  it('takes every policy snapshot due during the outage once S3 is back', async () => {
    const blobs = new S3BlobStore({
      endpoint: `http://127.0.0.1:${s3.port}`,
      bucket: 'outage',
      accessKeyId: 'agentstate',
      secretAccessKey: 'agentstate-secret',
      prefix: w.prefix,
    });
    await blobs.setup();
    const store = await w.newStore();
    const metrics = new MetricsRegistry();
    const retryWindowMs = 1500;
    const projector = new Projector({
      log: w.log,
      codec,
      store,
      blobs,
      topicPrefix: w.prefix,
      group: `${w.prefix}s3-outage`,
      snapshots: { everyEvents: 2, everyBytes: 0 },
      retryWindowMs,
      restartDelayMs: 300,
      sessionTimeoutMs: 6000,
      sweepIntervalMs: 0,
      metrics,
    });
    const stop = new AbortController();
    const running = projector.run(stop.signal);
    const writer = await AgentStateClient.connect({ log: w.log, codec, topicPrefix: w.prefix });
    const ids = Array.from({ length: 10 }, (_, i) => `s3o-${i}`);
    try {
      await Promise.all(ids.map((id) => writer.createAgent(id, { agentType: 'worker' })));
      await waitCaughtUp(projector, 60_000);

      await s3.stop();
      // Versions 2..5: snapshots are due at 2 and 4, while S3 is down.
      for (let n = 0; n < 4; n++) await Promise.all(ids.map((id) => writer.updateState(id, (d) => void (d.memory.n = n))));
      // Down for four retry windows: every attempt in that time gives up and the consumer restarts.
      await sleep(4 * retryWindowMs);
      expect(metrics.value('agentstate_projector_restarts_total')).toBeGreaterThan(0);
      await s3.start();
      await waitCaughtUp(projector, 90_000);
    } finally {
      await writer.close();
      stop.abort();
      await running;
    }
    for (const id of ids) {
      expect((await store.getState(id))?.version, id).toBe(5);
      expect(
        (await store.listSnapshots(id)).map((s) => s.version),
        id,
      ).toEqual([4, 2]);
    }
    await blobs.close();
    await store.close();
  });
});
