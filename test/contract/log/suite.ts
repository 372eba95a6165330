import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventLog } from '../../../src/log/port.js';
import { appendAndReadContract } from './append-read.js';
import { consumeContract } from './consume.js';
import { errorsContract } from './errors.js';
import { groupResetContract, setupContract } from './groups.js';
import { unique, type LogContext } from './helpers.js';

/**
 * The EventLog conformance suite (STYLE.md habit 2): every adapter runs it,
 * so the embedded log and Kafka cannot drift. `make` returns a log and a
 * topic prefix; each test creates its own topics and groups under it.
 */
export function eventLogContract(name: string, make: () => Promise<{ log: EventLog; topicPrefix: string }>): void {
  describe(`EventLog contract: ${name}`, () => {
    let log: EventLog | undefined;
    let prefix = '';
    beforeAll(async () => {
      ({ log, topicPrefix: prefix } = await make());
    });
    afterAll(async () => {
      await log?.close();
      await log?.close(); // safe twice
    });

    const ctx: LogContext = {
      log: () => log!,
      topicName: () => unique(prefix),
      group: () => unique(`${prefix}group-`),
      topic: async (spec = {}) => {
        const topic = unique(prefix);
        await log!.setup([{ name: topic, partitions: spec.partitions ?? 1, compacted: spec.compacted ?? false, ...spec }]);
        return topic;
      },
    };

    describe('append and read', () => appendAndReadContract(ctx));
    describe('consumer groups', () => consumeContract(ctx));
    describe('group reset', () => groupResetContract(ctx));
    describe('setup', () => setupContract(ctx));
    describe('errors', () => errorsContract(ctx, async () => (await make()).log));
    describe('identity', () => {
      // Issue 12 §3: a store binds to it, so it must not change between opens of the same log.
      it('names the log, the same from every handle on it', async () => {
        const first = await log!.identity();
        expect(first).toMatch(/^(sqlite|kafka):\S+$/);
        expect(await log!.identity()).toBe(first);
        const other = (await make()).log;
        try {
          expect(await other.identity()).toBe(first);
        } finally {
          await other.close();
        }
      });
    });
  });
}
