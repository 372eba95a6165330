import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentStateClient, JsonEventCodec } from '../../../src/client/index.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicSpecs } from '../../../src/log/topics.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-limits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Issue 12 §6: an update that can never be appended fails the same way on every profile, and alone. */
describe('event size limit', () => {
  it('refuses an oversized event with AS_TOO_LARGE naming the limit; other agents in the same tick still write', async () => {
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite') });
    await log.setup(topicSpecs({ prefix: 'lim.', partitions: 2 }));
    const client = await AgentStateClient.connect({ log, codec: new JsonEventCodec(), topicPrefix: 'lim.', bootstrap: false });
    try {
      await client.createAgent('big', { agentType: 'x' });
      await client.createAgent('small', { agentType: 'x' });
      const [big, small] = await Promise.allSettled([client.memoryUpdated('big', { blob: randomBytes(2 * 1024 * 1024).toString('base64') }), client.memoryUpdated('small', { n: 1 })]);
      expect(big.status).toBe('rejected');
      const err = (big as PromiseRejectedResult).reason as { code: string; retryable: boolean; message: string };
      expect(err).toMatchObject({ code: 'AS_TOO_LARGE', retryable: false });
      expect(err.message).toMatch(/exceeds the limit of 1000000 bytes/);
      expect(small.status).toBe('fulfilled');
      // Nothing of the refused update reached the log; the agent can go on.
      expect(client.getState('big')?.version).toBe(1);
      expect((await client.memoryUpdated('big', { n: 2 })).newVersion).toBe(2);
    } finally {
      await client.close();
      await log.close();
    }
    await expect(client.memoryUpdated('small', { n: 3 })).rejects.toMatchObject({ code: 'AS_CLOSED' });
  });
});
