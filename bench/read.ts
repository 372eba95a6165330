/**
 * `npm run bench -- read`: `StateManager.getCurrentState` latency (p50/p99)
 * and cache hit rate under a zipfian read load (s = 1.1) over 10,000 agents:
 * Redis read-through cache in front of MongoDB (FerretDB), then the store
 * alone for comparison. States are ~2 KB (corpus-like), written to the store
 * directly (the projector's row format). Scenarios: the cache warmed with
 * `warmCache()` (as after the projector's write-through), a cold cache filling
 * by read-through, and the store alone; the last two are time-boxed, since on
 * FerretDB every store read scans (see docs/projector.md, Limits).
 * Options: --quick (1,000 agents, fewer reads).
 */
import { S3BlobStore } from '../src/blob/s3.js';
import { RedisCache } from '../src/cache/redis.js';
import { Random } from '../src/corpus/index.js';
import { checksum, initialState, instanceId, stateAsJson } from '../src/domain/index.js';
import { StateManager } from '../src/manager/index.js';
import { encodeState, stateCacheKey } from '../src/projector/index.js';
import { MongoStore } from '../src/store/mongo/index.js';
import type { StoredState } from '../src/store/port.js';
import { splitState } from '../src/store/state-fields.js';
import { writeResults } from './lib/results.js';
import { markdownTable, num } from './lib/table.js';
import { benchStack } from './stack.js';

const quick = process.argv.includes('--quick');
const AGENTS = quick ? 1000 : 10_000;
const CACHED_READS = quick ? 5000 : 30_000;
const STORE_READS = quick ? 500 : 2000;
const CONCURRENCY = 8;
const BOX_SECONDS = quick ? 20 : 60;

interface Row {
  scenario: string;
  reads: number;
  p50Ms: number;
  p99Ms: number;
  readsPerSec: number;
  hitRate: number | null;
}

/** Zipf(s) sampler over ranks 0..n-1 by inverse CDF. */
function zipf(n: number, s: number, rnd: Random): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / Math.pow(i + 1, s);
  return () => {
    const u = rnd.next() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const env = await benchStack();
  const stamp = Date.now().toString(36);
  const store = await MongoStore.connect({ uri: env.mongodbUri, database: `bench_read_${stamp}` });
  await store.setup();
  const blobs = new S3BlobStore({ ...env.s3, prefix: `bench-read-${stamp}/` });
  const cache = new RedisCache({ url: env.redisUrl, prefix: `bench-read-${stamp}:` });
  const rnd = new Random(7);
  process.stderr.write(`writing ${AGENTS} agents...\n`);
  const ids = Array.from({ length: AGENTS }, (_, i) => `reader-${i}`);
  for (let i = 0; i < ids.length; i += 500) {
    const rows: StoredState[] = [];
    for (const id of ids.slice(i, i + 500)) {
      const state = stateAsJson(initialState(instanceId(id), 'worker', 1_760_000_000_000, { status: 'running' }));
      (state.memory as Record<string, string>).notes = 'x'.repeat(1500 + rnd.int(0, 500));
      const { fields, residual } = splitState(state);
      const body = await encodeState(residual);
      rows.push({
        instanceId: id, version: 1, epoch: 1, checksum: checksum(state), agentType: 'worker', status: 'running', fields, modifiedBy: 'bench',
        encoding: body.encoding, body: body.bytes, blobKey: null, position: { partition: 0, offset: '0' },
        lastEventId: `e-${id}`, lastEventType: 'instance_created', updatedAt: 1_760_000_000_000, createdAt: 1_760_000_000_000,
      });
    }
    await store.writeBatch({ states: rows, events: [] });
  }
  const pick = zipf(AGENTS, 1.1, rnd);
  const run = async (scenario: string, manager: StateManager, reads: number, withCache: RedisCache | undefined, boxSeconds = Infinity): Promise<void> => {
    const lat: number[] = [];
    let left = reads;
    const before = withCache?.stats();
    const t0 = performance.now();
    const deadline = t0 + boxSeconds * 1000;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (left-- > 0 && performance.now() < deadline) {
          const id = ids[pick()]!;
          const t = performance.now();
          const view = await manager.getCurrentState(id);
          lat.push(performance.now() - t);
          if (!view) throw new Error(`missing ${id}`);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    const after = withCache?.stats();
    const hitRate = before && after ? (after.hits - before.hits) / Math.max(1, after.hits - before.hits + after.misses - before.misses) : null;
    const label = Number.isFinite(boxSeconds) ? `${scenario} (${boxSeconds}s box)` : scenario;
    rows.push({ scenario: label, reads: lat.length, p50Ms: pct(lat, 50), p99Ms: pct(lat, 99), readsPerSec: lat.length / seconds, hitRate });
  };
  const rows: Row[] = [];
  process.stderr.write('warming the cache...\n');
  const cached = new StateManager({ store, blobs, cache });
  const w0 = performance.now();
  const warmed = await cached.warmCache(ids);
  process.stderr.write(`warmed ${warmed} agents in ${((performance.now() - w0) / 1000).toFixed(1)} s\ncached reads...\n`);
  await run('Redis, warmed (warmCache)', cached, CACHED_READS, cache);
  for (let i = 0; i < ids.length; i += 1000) await Promise.all(ids.slice(i, i + 1000).map((id) => cache.delete(stateCacheKey(id))));
  await run('Redis read-through, cold start', new StateManager({ store, blobs, cache }), CACHED_READS, cache, BOX_SECONDS);
  process.stderr.write('store-only reads...\n');
  await run('store only (no cache)', new StateManager({ store, blobs }), STORE_READS, undefined, BOX_SECONDS);
  const table = markdownTable(rows, [
    { header: 'scenario', value: (r) => r.scenario, align: 'left' },
    { header: 'reads', value: (r) => r.reads },
    { header: 'p50 ms', value: (r) => num(r.p50Ms, 2) },
    { header: 'p99 ms', value: (r) => num(r.p99Ms, 2) },
    { header: 'reads/s', value: (r) => num(r.readsPerSec, 0) },
    { header: 'hit rate', value: (r) => (r.hitRate === null ? '-' : `${(r.hitRate * 100).toFixed(1)} %`) },
  ]);
  process.stdout.write(`\ngetCurrentState: ${AGENTS} agents, zipf s=1.1, ${CONCURRENCY} concurrent readers, ~2 KB states\n\n${table}\n\n`);
  process.stdout.write(`results: ${writeResults('read', { agents: AGENTS, rows })}\n`);
  await store.connection.db.dropDatabase().catch(() => undefined);
  await store.close();
  await cache.close();
  await blobs.close();
}

await main();
