import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, runAndKill } from '../support/kill-child.js';
import { SqliteStateStore } from '../../src/store/sqlite/index.js';

// e2e tier by name (a whole process is SIGKILLed), kept beside the store's
// other tests. It needs no servers.

const dir = mkdtempSync(join(tmpdir(), 'agentstate-store-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const AGENTS = 13;
const OFFSET_BASE = 1n << 60n;

/**
 * The child: resumes each agent from its stored head and writes batches
 * forever (events, then the new states, one `writeBatch` each), printing
 * every agent version after `writeBatch` resolved. stdout to a pipe is
 * synchronous on Linux, so a printed line was out before the next batch.
 */
const CHILD = `
const { SqliteStateStore } = await import(${JSON.stringify(pathToFileURL(join(repoRoot, 'src/store/sqlite/index.ts')).href)});
const store = new SqliteStateStore({ path: process.env.STORE_PATH });
await store.setup();
const ids = Array.from({ length: ${AGENTS} }, (_, i) => 'agent-' + i);
const heads = await store.getStates(ids);
const version = new Map(ids.map((id) => [id, heads.get(id)?.version ?? 0]));
const position = (v) => ({ partition: 3, offset: String(${OFFSET_BASE}n + BigInt(v)) });
for (let seq = 0; ; seq++) {
  const chosen = [...new Set(Array.from({ length: 1 + (seq % 5) }, (_, i) => ids[(seq * 7 + i) % ids.length]))];
  const states = [];
  const events = [];
  for (const id of chosen) {
    const v = version.get(id) + 1;
    version.set(id, v);
    const body = Buffer.alloc(2048 + (seq % 7) * 512, v % 251);
    events.push({ instanceId: id, version: v, epoch: 1, eventId: id + '-e' + v, eventType: 'state_patched', timestamp: v,
      stateChecksum: 'sum-' + v, position: position(v), body: Buffer.from(String(v)) });
    states.push({ instanceId: id, version: v, epoch: 1, checksum: 'sum-' + v, agentType: 'worker', status: 'running', fields: { status: 'running' }, modifiedBy: 'e2e',
      encoding: { algorithm: 'none', originalSize: body.length, storedSize: body.length }, body, blobKey: null,
      position: position(v), lastEventId: id + '-e' + v, lastEventType: 'state_patched', updatedAt: v, createdAt: 1 });
  }
  await store.writeBatch({ states, events });
  process.stdout.write(chosen.map((id) => JSON.stringify({ id, v: version.get(id) })).join('\\n') + '\\n');
}
`;

interface Ack {
  id: string;
  v: number;
}

describe('SqliteStateStore survives SIGKILL', () => {
  it('keeps every acknowledged batch, and states always agree with their events, across repeated kills', async () => {
    const path = join(dir, 'crash.sqlite');
    const acked: Ack[] = [];
    for (const minAcks of [400, 150, 600]) acked.push(...(await runAndKill<Ack>(CHILD, { STORE_PATH: path }, minAcks)));

    const store = new SqliteStateStore({ path });
    try {
      await store.setup();
      const highest = new Map<string, number>();
      for (const a of acked) highest.set(a.id, Math.max(highest.get(a.id) ?? 0, a.v));
      const ids = Array.from({ length: AGENTS }, (_, i) => `agent-${i}`);
      const states = await store.getStates(ids);
      for (const id of ids) {
        const state = states.get(id);
        const events = await store.queryEvents({ instanceId: id });
        // Nothing acknowledged was lost (a batch written but killed before its ack may be there too).
        expect(state?.version ?? 0, id).toBeGreaterThanOrEqual(highest.get(id) ?? 0);
        // Every version exactly once, contiguous from 1: restarts resumed from the stored head.
        expect(
          events.map((e) => e.version),
          id,
        ).toEqual(Array.from({ length: state?.version ?? 0 }, (_, i) => i + 1));
        if (state === undefined) continue;
        // One transaction per batch: the state and its event were written together.
        expect(state.position.offset).toBe(String(OFFSET_BASE + BigInt(state.version)));
        expect(events.at(-1)?.position.offset).toBe(state.position.offset);
        expect(state.body?.length).toBe(state.encoding.storedSize);
        expect(state.body?.every((b) => b === state.version % 251)).toBe(true);
      }
    } finally {
      await store.close();
    }
  });
});
