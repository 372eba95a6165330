import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { status } from '../../../src/cli/commands/status.js';
import { inspect } from '../../../src/cli/commands/inspect.js';
import { AgentStateClient, JsonEventCodec } from '../../../src/client/index.js';
import { canonicalJson, type StateEvent } from '../../../src/domain/index.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { StateManager } from '../../../src/manager/index.js';
import { DLQ_HEADER, Projector } from '../../../src/projector/index.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-one-reading-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Issue 12 §2: every reader of the log (projector, writer view, CLI, time
 * travel) gives the same answer for the same log, whatever bad records it holds.
 */
describe('one reading of the log', () => {
  it('projector, writer view, CLI and StateManager agree on every bad-record kind', async () => {
    const prefix = 'agentstate.'; // the CLI's default
    const events = topicNames(prefix).events;
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite') });
    await log.setup(topicSpecs({ prefix, partitions: 4 }));
    const codec = new JsonEventCodec();
    const writer = await AgentStateClient.connect({ log, codec, bootstrap: false });
    const id = 'r-1';
    await writer.createAgent(id, { agentType: 'worker' });
    await writer.createAgent('r-2', { agentType: 'worker' });
    const v2 = (await writer.memoryUpdated(id, { n: 2 })).generatedEvents[0]!;
    const v3 = (await writer.memoryUpdated(id, { n: 3 })).generatedEvents[0]!;
    const other = (await writer.memoryUpdated('r-2', { n: 1 })).generatedEvents[0]!;
    const raw = (value: Buffer | string): Promise<unknown> => log.append(events, [{ key: id, value: Buffer.from(value) }]);
    const crafted = (e: Partial<StateEvent>): Promise<unknown> => raw(canonicalJson({ ...v3, eventId: `bad-${Math.random()}`, ...e } as never));
    const expected = {
      undecodable: 2,
      wrong_key: 1,
      duplicate: 1,
      gap: 1,
      checksum_mismatch: 1,
      epoch_not_acquired: 1,
      unknown_type: 1,
    };
    await raw(Buffer.from([0, 0, 0, 0, 7, 1, 2, 3])); // garbage
    await raw(canonicalJson({ instanceId: id, nodeId: 'n', sequence: 1, timestamp: 1 })); // a heartbeat in the wrong topic
    await raw(canonicalJson({ ...other, version: 4 } as never)); // r-2's event filed under r-1's key
    await crafted({ ...v2 }); // version 2 again
    await crafted({ version: 9 as StateEvent['version'] });
    await crafted({ version: 4 as StateEvent['version'], changeset: [{ path: '/memory/n', op: 'update', oldValue: 3, newValue: 99 }] });
    await crafted({ version: 4 as StateEvent['version'], writerEpoch: 5 as StateEvent['writerEpoch'], changeset: [] });
    await crafted({ version: 4 as StateEvent['version'], eventType: 'bogus' as never, changeset: [] });
    const v4 = await writer.memoryUpdated(id, { n: 4 });
    await writer.close();

    // The projector.
    const store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
    await store.setup();
    const blobs = new FsBlobStore({ dir: join(dir, 'blobs') });
    await new Projector({ log, codec, store, blobs, topicPrefix: prefix, sweepIntervalMs: 0 }).runUntilCaughtUp(undefined, 50);
    const row = await store.getState(id);
    expect([row?.version, row?.checksum]).toEqual([4, v4.checksum]);
    const dlq = topicNames(prefix).dlq;
    const reasons: Record<string, number> = {};
    for (const [p, end] of Object.entries(await log.endOffsets(dlq))) {
      for (const r of await log.read(dlq, Number(p), '0', end)) {
        const reason = r.headers[DLQ_HEADER.reason]!;
        reasons[reason] = (reasons[reason] ?? 0) + 1;
        expect(r.headers[DLQ_HEADER.detail], reason).not.toMatch(/TypeError|\n/);
      }
    }
    expect(reasons).toEqual(expected);

    // A writer that folds the log from the start.
    const reader = await AgentStateClient.connect({ log, codec, bootstrap: false, scope: 'fleet' });
    expect([reader.getState(id)?.version, reader.getState(id)?.checksum]).toEqual([4, v4.checksum]);
    await reader.close();

    // Time travel over the mirror.
    const manager = new StateManager({ store, blobs });
    expect((await manager.projectState(id, 4)).checksum).toBe(v4.checksum);

    // The CLI: status does not fail, and counts what the projector sent to the DLQ (from the
    // DLQ's offsets: status never folds history, so the reasons are the DLQ's, checked above); inspect agrees.
    await blobs.close();
    await store.close();
    await log.close();
    const lines: string[] = [];
    const out = (s: string): void => void lines.push(s);
    expect(await status(['--data-dir', dir, '--backend', 'embedded', '--json'], out)).toBe(0);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ agents: 2, rejected: 8 });
    expect(await inspect([id, '--data-dir', dir, '--backend', 'embedded', '--json'], out)).toBe(0);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ version: 4, checksum: v4.checksum });
  });
});
