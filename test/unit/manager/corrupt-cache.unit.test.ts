import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { MemoryCache } from '../../../src/cache/memory.js';
import { AgentStateClient, JsonEventCodec } from '../../../src/client/index.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicSpecs } from '../../../src/log/topics.js';
import { StateManager } from '../../../src/manager/index.js';
import { Projector, decodeCached, stateCacheKey } from '../../../src/projector/index.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-corrupt-cache-'));
const prefix = 'c.';
let log: SqliteEventLog;
let store: SqliteStateStore;
let blobs: FsBlobStore;
let cache: MemoryCache;
let manager: StateManager;

beforeAll(async () => {
  log = new SqliteEventLog({ path: join(dir, 'log.sqlite') });
  await log.setup(topicSpecs({ prefix, partitions: 2 }));
  store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
  await store.setup();
  blobs = new FsBlobStore({ dir: join(dir, 'blobs') });
  cache = new MemoryCache();
  const codec = new JsonEventCodec();
  const writer = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, bootstrap: false });
  try {
    await writer.createAgent('small', { agentType: 'worker' });
    await writer.updateState('small', (d) => void (d.memory.note = 'hello'));
    // Above 16 KiB of JSON: stored as an lz4 frame.
    await writer.createAgent('large', { agentType: 'worker' });
    await writer.updateState('large', (d) => void (d.memory.text = 'lorem ipsum '.repeat(4000)));
  } finally {
    await writer.close();
  }
  await new Projector({ log, codec, store, blobs, cache, topicPrefix: prefix, sweepIntervalMs: 0 }).runUntilCaughtUp(undefined, 20);
  manager = new StateManager({ store, blobs, cache });
});
afterAll(async () => {
  await cache.close();
  await blobs.close();
  await store.close();
  await log.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The projector's cache value of an agent, split at the header line. */
async function entry(id: string): Promise<{ header: string; body: Buffer; whole: Buffer }> {
  const whole = (await cache.get(stateCacheKey(id)))!;
  const nl = whole.indexOf(0x0a);
  return { header: whole.subarray(0, nl).toString('utf8'), body: whole.subarray(nl + 1), whole };
}

const corruptions: Array<[string, (e: { header: string; body: Buffer; whole: Buffer }) => Buffer]> = [
  ['bad header JSON', (e) => Buffer.concat([Buffer.from(`${e.header.slice(0, -3)}\n`), e.body])],
  ['no header line', (e) => Buffer.from(e.header)],
  ['a header missing its version', (e) => Buffer.concat([Buffer.from(`${JSON.stringify({ ...JSON.parse(e.header), version: undefined })}\n`), e.body])],
  ['a truncated body', (e) => e.whole.subarray(0, e.whole.length - 7)],
  [
    'a body with a flipped byte (wrong checksum)',
    (e) => {
      const b = Buffer.from(e.whole);
      b[b.length - 20] = b[b.length - 20]! ^ 0x01;
      return b;
    },
  ],
  ['a header whose checksum is wrong', (e) => Buffer.concat([Buffer.from(`${JSON.stringify({ ...JSON.parse(e.header), checksum: '0'.repeat(64) })}\n`), e.body])],
];

describe('a corrupt cache entry falls back to the store', () => {
  for (const id of ['small', 'large']) {
    for (const [what, corrupt] of corruptions) {
      it(`${id} state, ${what}: getCurrentState reads the store, and the store row repairs the entry`, async () => {
        const good = await entry(id);
        const version = decodeCached(good.whole).header.version;
        expect(version).toBe(2);
        // The projector's guard version stays: the corrupt bytes sit where a good entry of version 2 was.
        await cache.setIfNewer(stateCacheKey(id), corrupt(good), version);

        const view = await manager.getCurrentState(id);
        expect(view).toMatchObject({ version: 2, source: 'store' });
        expect(view!.state.memory).toEqual(id === 'small' ? { note: 'hello' } : { text: 'lorem ipsum '.repeat(4000) });
        // The fill (guarded, same version) replaced the corrupt bytes.
        expect((await entry(id)).whole.equals(good.whole)).toBe(true);
        expect(await manager.getCurrentState(id)).toMatchObject({ version: 2, source: 'cache', checksum: view!.checksum });
      });
    }
  }

  it('also with minVersion, which the store then serves', async () => {
    const good = await entry('small');
    await cache.setIfNewer(stateCacheKey('small'), Buffer.from('{"oops"\nxx'), 2);
    expect(await manager.getCurrentState('small', { minVersion: 2 })).toMatchObject({ version: 2, source: 'store' });
    expect((await entry('small')).whole.equals(good.whole)).toBe(true);
  });
});
