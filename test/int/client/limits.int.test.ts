import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AgentStateClient } from '../../../src/client/index.js';
import { openLog } from '../../../src/sdk/wiring.js';
import { stackEnv, uniqueName } from '../../support/env.js';

/**
 * Issue 12 §6 on the servers profile (Kafka, Avro through the registry), for a
 * writer with no blob store (no S3 configured, so nothing to claim-check the
 * changeset into): a 5 MB update, which the broker's 1 MB limit can never
 * take, is AS_TOO_LARGE naming maxEventBytes and not retryable (it was a
 * retryable AS_UNAVAILABLE), exactly as on the embedded profile
 * (test/unit/client/limits.unit.test.ts). With S3 the same update succeeds:
 * test/int/client/large-changeset.int.test.ts.
 */
describe('event size limit on Kafka', () => {
  it('refuses a 5 MB update with AS_TOO_LARGE naming the limit; the agent and its neighbours go on', async () => {
    const env = stackEnv();
    const opened = await openLog({ kind: 'servers', kafka: { brokers: env.kafkaBrokers, schemaRegistryUrl: env.schemaRegistryUrl }, topicPrefix: `${uniqueName('limits')}.` });
    await opened.setupTopics();
    const client = await AgentStateClient.connect({ log: opened.log, codec: opened.codec, topicPrefix: opened.prefix, bootstrap: false });
    try {
      await client.createAgent('big', { agentType: 'x' });
      await client.createAgent('small', { agentType: 'x' });
      const [big, small] = await Promise.allSettled([
        client.memoryUpdated('big', { blob: randomBytes(3_750_000).toString('base64') }), // 5 MB of text
        client.memoryUpdated('small', { n: 1 }),
      ]);
      expect(big.status).toBe('rejected');
      expect((big as PromiseRejectedResult).reason).toMatchObject({ code: 'AS_TOO_LARGE', retryable: false, message: expect.stringMatching(/exceeds the limit of 1000000 bytes/) as unknown });
      expect(small.status).toBe('fulfilled');
      expect((await client.memoryUpdated('big', { n: 2 })).newVersion).toBe(2);
    } finally {
      await client.close();
      await opened.close();
    }
  });
});
