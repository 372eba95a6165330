import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { BackupArchiver, readHead, trimLog } from '../../../src/backup/index.js';
import { MemoryCache } from '../../../src/cache/memory.js';
import { history, stateAt } from '../../../src/cli/commands/inspect.js';
import { AgentStateClient } from '../../../src/client/index.js';
import { fold, type StateEvent } from '../../../src/domain/index.js';
import { LogMismatchError } from '../../../src/errors.js';
import { type SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { projectorGroup, topicNames } from '../../../src/log/topics.js';
import { StateManager } from '../../../src/manager/index.js';
import { Projector } from '../../../src/projector/index.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { openEmbeddedSource, tempRoot } from '../../support/embedded-source.js';
import { archiveUntilCaughtUp, codec, writeAgents } from './helpers.js';

const prefix = 'agentstate.';
const topic = topicNames(prefix).events;
const groups: [string, ...string[]] = [projectorGroup(prefix)];

/** Every event of the log, per agent, in version order (read before the cap deletes any). */
async function eventsByAgent(log: SqliteEventLog): Promise<Map<string, StateEvent[]>> {
  const out = new Map<string, StateEvent[]>();
  for (const [p, end] of Object.entries(await log.endOffsets(topic))) {
    for (const r of await log.read(topic, Number(p), '0', end)) {
      if (!r.value) continue;
      const e = await codec.decode(r.value);
      out.set(e.instanceId, [...(out.get(e.instanceId) ?? []), e]);
    }
  }
  return out;
}

async function cli(run: (argv: string[], out: (s: string) => void) => Promise<number>, argv: string[], dir: string): Promise<unknown> {
  const lines: string[] = [];
  expect(await run([...argv, '--json', '--data-dir', dir, '--backend', 'embedded'], (s) => void lines.push(s))).toBe(0);
  return JSON.parse(lines.join('\n')) as unknown;
}

/**
 * The events topic capped behind the backup (issue 14, docs/backup.md
 * "Capping the events topic"), on the embedded profile: only records that
 * are archived, projected and old enough go; afterwards `state --at`,
 * `history` and time travel still answer from the whole history (the part
 * below the log's start read from the backup), a writer continues its agents
 * from the state topic, and readers that would fold a tail as a whole history
 * refuse.
 */
describe('capping the events topic behind the backup (embedded)', () => {
  const dir = tempRoot('trim-log');

  it('deletes only what the backup holds, the projector applied and the age allows; history still reads whole', async () => {
    const source = await openEmbeddedSource(dir, prefix, 2);
    const { log, blobs, store } = source;
    const project = () => new Projector({ log, codec, store, blobs, cache: new MemoryCache(), topicPrefix: prefix, sweepIntervalMs: 0 }).runUntilCaughtUp(undefined, 20);
    const archive = () => archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, segmentMaxBytes: 1500 });
    const ids = Array.from({ length: 6 }, (_, i) => `trim-${i}`);
    const starts = async () => Object.values(await log.startOffsets(topic)).map(BigInt);
    try {
      // Phase A: written, projected, archived. Then B: archived, not yet projected.
      await writeAgents(log, prefix, ids, 3);
      await project();
      await sleep(30);
      const middle = Date.now();
      await sleep(30);
      await writeAgents(log, prefix, ids, 2, 'b', false);
      await archive();
      const all = await eventsByAgent(log);
      const committed = await log.committedOffsets(groups[0], topic);

      // Young records stay; then the projector's position holds the cap back.
      expect(await trimLog({ log, blobs, topic, keepMs: 3_600_000, groups, now: Date.now() })).toEqual([]);
      const byProjector = await trimLog({ log, blobs, topic, keepMs: 0, groups, now: Date.now() });
      expect(byProjector.map((t) => [t.partition, t.to, t.limitedBy])).toEqual(Object.entries(committed).map(([p, c]) => [Number(p), c, `group ${groups[0]}`]));
      expect(await starts()).toEqual(Object.values(committed).map(BigInt));

      // C: projected, not archived: the backup's head holds the cap back.
      await project();
      // A writer on the capped log takes its agents' heads from the state topic (bootstrap, the default).
      const c = await AgentStateClient.connect({ log, codec, topicPrefix: prefix });
      try {
        for (const i of ids) await c.acquire(i);
        await Promise.all(ids.map((i) => c.updateState(i, (d) => void (d.memory.c = `${i} phase c`))));
      } finally {
        await c.close();
      }
      await project();
      const byBackup = await trimLog({ log, blobs, topic, keepMs: 0, groups, now: Date.now() });
      for (const t of byBackup) {
        expect(t.limitedBy).toBe('backup');
        expect(t.to).toBe((await readHead(blobs, t.partition)).nextOffset);
      }
      expect(byBackup).toHaveLength(2);
      const ends = await log.endOffsets(topic);
      for (const [p, s] of (await starts()).entries()) {
        expect(s).toBeGreaterThan(0n);
        expect(s).toBeLessThan(BigInt(ends[p]!));
      }
      const full = await eventsByAgent(log).then(async (tail) => {
        // The log now holds only the tail; the whole history is the events read before plus phase C's.
        const out = new Map(all);
        for (const [id, es] of tail) out.set(id, [...(all.get(id) ?? []), ...es.filter((e) => e.version > (all.get(id)?.at(-1)?.version ?? 0))]);
        return out;
      });
      const id = ids[0]!;
      const events = full.get(id)!;
      expect(events.map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);

      // The CLI folds the whole history: the part below the start from the backup.
      const v2 = fold(events.slice(0, 2)).projection!;
      expect(await cli(stateAt, [id, '--at', '2'], dir)).toMatchObject({ version: 2, checksum: v2.checksum });
      const rows = (await cli(history, [id], dir)) as { version: number; accepted: boolean }[];
      expect(rows.map((r) => [r.version, r.accepted])).toEqual(events.map((e) => [e.version, true]));

      // Time travel from a store without that history (e.g. restored from a checkpoint) reads the backup.
      const bare = new SqliteStateStore({ path: join(dir, 'bare.sqlite') });
      await bare.setup();
      try {
        const atMiddle = fold(events.filter((e) => e.timestamp <= middle)).projection!;
        expect(atMiddle.version).toBe(4);
        const manager = new StateManager({ store: bare, blobs, backupCodec: codec });
        expect(await manager.projectStateAtTime(id, middle)).toMatchObject({ version: 4, checksum: atMiddle.checksum });
        await expect(new StateManager({ store: bare, blobs }).projectStateAtTime(id, middle)).rejects.toThrow(/not found/i);
        // A projector with no position on the capped log would build a wrong store from the tail: refused.
        const fresh = new Projector({ log, codec, store: bare, blobs, topicPrefix: prefix, group: 'another-projector', sweepIntervalMs: 0 });
        await expect(fresh.runUntilCaughtUp(undefined, 20)).rejects.toThrow(LogMismatchError);
      } finally {
        await bare.close();
      }

      // A writer takes its agents' heads from the state topic and continues them; one that would fold the tail refuses.
      const blind = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, bootstrap: false });
      await expect(blind.acquire(id)).rejects.toThrow(LogMismatchError);
      await blind.close();
      const writer = await AgentStateClient.connect({ log, codec, topicPrefix: prefix });
      try {
        await writer.acquire(id);
        const r = await writer.updateState(id, (d) => void (d.memory.after = 'the cap'));
        expect(r.newVersion).toBe(11); // 9, the claim (10), this update
      } finally {
        await writer.close();
      }
      await project();
      const row = await store.getState(id);
      expect(row?.version).toBe(11);
    } finally {
      await source.close();
    }
  });

  it('the archiver caps on its retention schedule when BACKUP_TRIM_LOG_AFTER_MS is set', async () => {
    const source = await openEmbeddedSource(join(dir, 'service'), prefix, 2);
    const { log, blobs, store } = source;
    try {
      await writeAgents(log, prefix, ['svc-1', 'svc-2', 'svc-3'], 2);
      await new Projector({ log, codec, store, blobs, topicPrefix: prefix, sweepIntervalMs: 0 }).runUntilCaughtUp(undefined, 20);
      const archiver = new BackupArchiver({ log, blobs, codec, topicPrefix: prefix, tickMs: 20, segmentMaxAgeMs: 30, pruneIntervalMs: 50, trimLogAfterMs: 1 });
      const stop = new AbortController();
      const running = archiver.run(stop.signal);
      const ends = await log.endOffsets(topic);
      const deadline = Date.now() + 20_000;
      while (JSON.stringify(await log.startOffsets(topic)) !== JSON.stringify(ends) && Date.now() < deadline) await sleep(50);
      stop.abort();
      await running;
      expect(await log.startOffsets(topic)).toEqual(ends);
    } finally {
      await source.close();
    }
  });
});
