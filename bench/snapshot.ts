/**
 * `npm run bench -- snapshot`: time to create and to restore (load + verify
 * every checksum) a full snapshot of a realistic agent state of 1, 10 and
 * 50 MB (src/corpus), body in S3 (versitygw in the dev stack), metadata in
 * MongoDB (FerretDB), per compression algorithm.
 * Options: --quick (1 and 10 MB, lz4 only).
 */
import { S3BlobStore } from '../src/blob/s3.js';
import type { CompressionAlgorithm } from '../src/codec/compression.js';
import { generateState } from '../src/corpus/index.js';
import { canonicalJson, checksum, stateAsJson } from '../src/domain/index.js';
import { Snapshotter } from '../src/projector/index.js';
import { MongoStore } from '../src/store/mongo/index.js';
import { writeResults } from './lib/results.js';
import { bytes, markdownTable, num } from './lib/table.js';
import { benchStack } from './stack.js';

const quick = process.argv.includes('--quick');
const SIZES = quick ? [1, 10] : [1, 10, 50];
const ALGORITHMS: CompressionAlgorithm[] = quick ? ['lz4'] : ['lz4', 'gzip'];
const RUNS = 3;

interface Row {
  stateMB: number;
  jsonBytes: number;
  algorithm: string;
  storedBytes: number;
  createMs: number;
  restoreMs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  const env = await benchStack();
  const stamp = Date.now().toString(36);
  const store = await MongoStore.connect({ uri: env.mongodbUri, database: `bench_snapshot_${stamp}` });
  await store.setup();
  const blobs = new S3BlobStore({ ...env.s3, prefix: `bench-snapshot-${stamp}/` });
  await blobs.setup();
  const rows: Row[] = [];
  for (const mb of SIZES) {
    process.stderr.write(`generating a ${mb} MB state...\n`);
    const state = stateAsJson(generateState({ seed: mb, targetBytes: mb * 1024 * 1024 }));
    const jsonBytes = Buffer.byteLength(canonicalJson(state));
    const sum = checksum(state);
    for (const algorithm of ALGORITHMS) {
      const snapshotter = new Snapshotter(store, blobs, { policy: { algorithm } });
      const create: number[] = [];
      const restore: number[] = [];
      let storedBytes = 0;
      for (let run = 0; run < RUNS; run++) {
        const id = `snap-${mb}-${algorithm}-${run}`;
        const t0 = performance.now();
        const record = await snapshotter.take({ instanceId: id, version: 1, epoch: 1, state, checksum: sum, stateTimestamp: Date.now(), type: 'full', trigger: 'bench' });
        create.push(performance.now() - t0);
        storedBytes = record.encoding.storedSize;
        const t1 = performance.now();
        await snapshotter.load(record);
        restore.push(performance.now() - t1);
      }
      rows.push({ stateMB: mb, jsonBytes, algorithm, storedBytes, createMs: median(create), restoreMs: median(restore) });
    }
  }
  const table = markdownTable(rows, [
    { header: 'state', value: (r) => bytes(r.jsonBytes) },
    { header: 'algorithm', value: (r) => r.algorithm, align: 'left' },
    { header: 'stored', value: (r) => bytes(r.storedBytes) },
    { header: 'create ms (p50)', value: (r) => num(r.createMs, 0) },
    { header: 'restore ms (p50)', value: (r) => num(r.restoreMs, 0) },
  ]);
  process.stdout.write(`\nsnapshots: full, framed + checksummed, S3 body + MongoDB metadata, median of ${RUNS}\n\n${table}\n\n`);
  process.stdout.write(`results: ${writeResults('snapshot', { runs: RUNS, rows })}\n`);
  for await (const o of blobs.list('')) await blobs.delete(o.key);
  await store.connection.db.dropDatabase().catch(() => undefined);
  await store.close();
  await blobs.close();
}

await main();
