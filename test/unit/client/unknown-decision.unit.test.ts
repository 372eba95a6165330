import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentStateClient, JsonEventCodec } from '../../../src/client/index.js';
import { fold, type StateEvent } from '../../../src/domain/index.js';
import { UnavailableError } from '../../../src/errors.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { eventsByAgent } from '../../support/projection-check.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-unknown-decision-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The real SQLite log, whose claims topic cannot be read while `down` is set (a broker restarting, as broker-kill saw). */
class ClaimsOutage extends SqliteEventLog {
  down = false;
  override async endOffsets(topic: string): Promise<Record<number, string>> {
    if (this.down && topic.endsWith('claims')) throw new UnavailableError('the claims topic (test: broker restarting)', { retryable: true });
    return super.endOffsets(topic);
  }
}

/**
 * A scoped writer's decision can fail after its record is in the log (the
 * claim feed unreachable). The write's outcome is then unknown, and the next
 * write must not be acknowledged unless the log accepts it: broker-kill lost
 * acknowledged writes when the next one took the unknown record's version.
 */
describe('scoped writer, a decision that fails after the append', () => {
  it('never acknowledges a write the log rejects, and builds the next write on the unknown one that landed', async () => {
    const prefix = 'unk.';
    const log = new ClaimsOutage({ path: join(dir, 'log.sqlite') });
    await log.setup(topicSpecs({ prefix, partitions: 2 }));
    const client = await AgentStateClient.connect({ log, codec: new JsonEventCodec(), topicPrefix: prefix, bootstrap: false });
    const acked: StateEvent[] = [];
    try {
      acked.push(...(await client.createAgent('u-1', { agentType: 'worker' })).generatedEvents);
      acked.push(...(await client.memoryUpdated('u-1', { n: 1 })).generatedEvents);

      log.down = true;
      await expect(client.memoryUpdated('u-1', { n: 2 })).rejects.toMatchObject({ code: 'AS_UNAVAILABLE' });
      log.down = false;

      // The unknown write landed: the next one is built on it (the writer reads the log to its end first), so it is
      // acknowledged and accepted; before that it took the unknown record's version and was refused.
      const outcomes = [];
      for (let n = 3; n <= 5; n++)
        outcomes.push(
          await client.memoryUpdated('u-1', { n }).then(
            (r) => (acked.push(...r.generatedEvents), 'acked'),
            (err: { code: string }) => err.code,
          ),
        );
      expect(outcomes).toEqual(['acked', 'acked', 'acked']);
    } finally {
      await client.close();
    }
    const events = (await eventsByAgent(log, new JsonEventCodec(), topicNames(prefix).events)).get('u-1')!;
    await log.close();
    const folded = fold(events);
    const rejected = new Set(folded.rejected.map((r) => r.event.eventId));
    expect(acked.filter((e) => rejected.has(e.eventId)).map((e) => e.version)).toEqual([]);
    // The head is the last acknowledged write, with the unknown one applied before it.
    expect(folded.projection?.version).toBe(acked.at(-1)!.version);
    expect(folded.rejected).toEqual([]);
    expect(events.map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((folded.projection?.state as { memory?: unknown } | undefined)?.memory).toEqual({ n: 5 });
  });
});
