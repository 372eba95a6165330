/**
 * `npm run bench -- ferretdb`: the MongoDB-wire operations the store relies on,
 * timed against one or more servers side by side (FerretDB on PostgreSQL vs
 * on SQLite, or real MongoDB), on the same 2,000 documents of ~2 KB.
 *
 *   --target NAME=URI   a server to measure (repeatable); default: MONGODB_URI
 *                       (or `scripts/stack up`) as `stack`
 *   --docs N            documents (default 2000; --quick: 500)
 *   --bulk-timeout S    bound on the unordered bulkWrite (default 30 s): on the
 *                       PostgreSQL backend it has been seen to never finish
 *
 * Every write is checked afterwards (versions in the collection), so a fast
 * but wrong server does not win. The bulkWrite runs last, on its own client,
 * and the run then checks whether the server still answers.
 *
 * Example, two private instances (see scripts/stack --help):
 *   npm run bench -- ferretdb --target postgresql=mongodb://127.0.0.1:27217/ \
 *     --target sqlite=mongodb://127.0.0.1:27317/
 */
import { MongoClient, type Collection, type Db } from 'mongodb';
import { Random, loadTextSources, proseSpan } from '../src/corpus/index.js';
import { writeResults } from './lib/results.js';
import { markdownTable, num } from './lib/table.js';
import { benchStack } from './stack.js';

interface Doc {
  _id: string;
  instanceId: string;
  version: number;
  status: string;
  agentType: string;
  meta: { region: string; tier: number };
  memory: { notes: string };
  updatedAt: number;
}

/** One measured figure per target, in the unit its name says. */
type Figures = Record<string, number | string>;

const args = process.argv.slice(3);
const quick = args.includes('--quick');
const option = (name: string): string[] => args.flatMap((a, i) => (a === name && args[i + 1] !== undefined ? [args[i + 1]!] : []));
const DOCS = Number(option('--docs')[0] ?? (quick ? 500 : 2000));
const BULK_TIMEOUT_S = Number(option('--bulk-timeout')[0] ?? 30);
const STATUSES = ['idle', 'running', 'waiting', 'stopped'];
const SAMPLES = quick ? 50 : 200;
const CONCURRENT_UPDATES = 300;
const CONCURRENCY = 16;
const SMALL_BULK = 40;

async function targets(): Promise<Array<{ name: string; uri: string }>> {
  const given = option('--target').map((t) => {
    const eq = t.indexOf('=');
    if (eq < 1) throw new Error(`--target wants NAME=URI, got ${JSON.stringify(t)}`);
    return { name: t.slice(0, eq), uri: t.slice(eq + 1) };
  });
  if (given.length > 0) return given;
  return [{ name: 'stack', uri: (await benchStack()).mongodbUri }];
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Runs `op` `n` times one after another; p50 and p99 in ms. */
async function latency(n: number, op: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await op(i);
    lat.push(performance.now() - t);
  }
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 50), p99: pct(lat, 99) };
}

async function timed(op: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await op();
  return performance.now() - t;
}

/** `op` or a timeout; the loser is abandoned (the caller closes its client). */
async function within<T>(ms: number, op: Promise<T>): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  try {
    return await Promise.race([op, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function makeDocs(n: number): Doc[] {
  const rnd = new Random(11);
  const text = loadTextSources();
  return Array.from({ length: n }, (_, i) => ({
    _id: `agent-${i}`,
    instanceId: `agent-${i}`,
    version: 1,
    status: STATUSES[i % STATUSES.length]!,
    agentType: i % 3 === 0 ? 'planner' : 'worker',
    meta: { region: `r${i % 8}`, tier: i % 3 },
    memory: { notes: proseSpan(text, rnd, 40, 1700 + rnd.int(0, 300)) },
    updatedAt: 1_760_000_000_000 + i,
  }));
}

/** The guarded update the store issues: only a newer version moves a document. */
const guarded = (id: string, version: number) => ({ filter: { _id: id, version: { $lt: version } }, update: { $set: { version, updatedAt: Date.now() } } }) as const;

async function expectVersion(coll: Collection<Doc>, ids: string[], version: number, what: string): Promise<void> {
  const n = await coll.countDocuments({ _id: { $in: ids }, version });
  if (n !== ids.length) throw new Error(`${what}: ${n} of ${ids.length} documents at version ${version}`);
}

async function measure(uri: string, docs: Doc[]): Promise<Figures> {
  const f: Figures = {};
  const database = `bench_ferretdb_${Date.now().toString(36)}`;
  const client = await MongoClient.connect(uri, { maxPoolSize: CONCURRENCY + 4 });
  const db: Db = client.db(database);
  const coll = db.collection<Doc>('agent_states');
  const ids = docs.map((d) => d._id);
  const rnd = new Random(5);
  const pick = () => ids[rnd.int(0, ids.length - 1)]!;
  try {
    await coll.createIndex({ instanceId: 1 }, { unique: true, name: 'instance' });
    await coll.createIndex({ status: 1 }, { name: 'status' });
    f['insertMany, ms'] = await timed(() => coll.insertMany(docs, { ordered: true }));
    if ((await coll.countDocuments()) !== docs.length) throw new Error('insertMany: wrong count');

    // Sequential guarded updates of distinct documents (version 1 -> 2).
    const seq = ids.slice(0, SAMPLES);
    const upd = await latency(seq.length, async (i) => {
      const g = guarded(seq[i]!, 2);
      const r = await coll.updateOne(g.filter, g.update);
      if (r.modifiedCount !== 1) throw new Error(`updateOne ${seq[i]}: not modified`);
    });
    f['guarded updateOne by _id p50, ms'] = upd.p50;
    f['guarded updateOne by _id p99, ms'] = upd.p99;
    await expectVersion(coll, seq, 2, 'sequential updates');
    // A stale version must not apply.
    const stale = await coll.updateOne(guarded(seq[0]!, 1).filter, guarded(seq[0]!, 1).update);
    if (stale.modifiedCount !== 0) throw new Error('a stale guarded update applied');

    const conc = ids.slice(SAMPLES, SAMPLES + CONCURRENT_UPDATES);
    let next = 0;
    f[`${CONCURRENT_UPDATES} guarded updates, ${CONCURRENCY} at a time, ms`] = await timed(() =>
      Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < conc.length) {
            const g = guarded(conc[next++]!, 2);
            await coll.updateOne(g.filter, g.update);
          }
        }),
      ),
    );
    await expectVersion(coll, conc, 2, 'concurrent updates');

    const byField = await latency(SAMPLES, async () => {
      const id = pick();
      if ((await coll.findOne({ instanceId: id }))?._id !== id) throw new Error(`findOne ${id}: wrong document`);
    });
    f['findOne by indexed instanceId p50, ms'] = byField.p50;
    f['findOne by indexed instanceId p99, ms'] = byField.p99;

    const expected = docs.filter((d) => d.status === 'running' && d.meta.region === 'r1').length;
    const nested = await latency(20, async () => {
      const n = (await coll.find({ status: 'running', 'meta.region': 'r1' }).toArray()).length;
      if (n !== expected) throw new Error(`status + meta.region: ${n} documents, expected ${expected}`);
    });
    f['find status + nested field p50, ms'] = nested.p50;

    const step = Math.max(1, Math.floor(ids.length / 100));
    const inIds = ids.filter((_, i) => i % step === 0).slice(0, 100);
    const inQuery = await latency(20, async () => {
      const n = (await coll.find({ _id: { $in: inIds } }).toArray()).length;
      if (n !== inIds.length) throw new Error(`$in: ${n} documents`);
    });
    f['find _id $in 100 ids p50, ms'] = inQuery.p50;

    const distinct = await latency(10, async () => {
      if ((await coll.distinct('instanceId')).length !== docs.length) throw new Error('distinct: wrong count');
    });
    f["distinct('instanceId') p50, ms"] = distinct.p50;
    const count = await latency(10, async () => {
      if ((await coll.countDocuments({ status: 'idle' })) !== docs.filter((d) => d.status === 'idle').length) throw new Error('countDocuments: wrong count');
    });
    f['countDocuments({status}) p50, ms'] = count.p50;
    // Unfiltered counts: the store's counts() uses countDocuments() on whole collections.
    const countAll = await latency(10, async () => {
      if ((await coll.countDocuments()) !== docs.length) throw new Error('countDocuments(): wrong count');
    });
    f['countDocuments() p50, ms'] = countAll.p50;
    const estimated = await latency(10, async () => {
      if ((await coll.estimatedDocumentCount()) !== docs.length) throw new Error('estimatedDocumentCount: wrong count');
    });
    f['estimatedDocumentCount() p50, ms'] = estimated.p50;

    // A small bulk first: on the PostgreSQL backend each pending update of a
    // bulk seems to hold a pooled connection, so a bulk under the pool size may pass.
    f[`unordered bulkWrite of ${SMALL_BULK} guarded updates, ms`] = await bulk(uri, database, ids.slice(0, SMALL_BULK));
    f[`unordered bulkWrite of ${CONCURRENT_UPDATES} guarded updates, ms`] = await bulk(uri, database, conc);
  } finally {
    // The server may be wedged by the bulk: bound the clean-up too.
    const dropped = await within(
      20_000,
      db.dropDatabase().then(() => 'ok' as const),
    ).catch(() => 'error' as const);
    f['dropDatabase afterwards'] = dropped;
    await client.close();
  }
  return f;
}

/** An unordered bulk of guarded updates (version 2 -> 3), bounded; on its own client so a hang is cut. */
async function bulk(uri: string, database: string, ids: string[]): Promise<number | string> {
  const client = await MongoClient.connect(uri);
  try {
    const coll = client.db(database).collection<Doc>('agent_states');
    const ops = ids.map((id) => ({ updateOne: guarded(id, 3) }));
    const t = performance.now();
    const r = await within(BULK_TIMEOUT_S * 1000, coll.bulkWrite(ops, { ordered: false }));
    if (r === 'timeout') return `> ${BULK_TIMEOUT_S * 1000} (timed out)`;
    const ms = performance.now() - t;
    if (r.modifiedCount !== ids.length) throw new Error(`bulkWrite: ${r.modifiedCount} of ${ids.length} modified`);
    return ms;
  } finally {
    await client.close().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const list = await targets();
  process.stderr.write(`generating ${DOCS} documents...\n`);
  const docs = makeDocs(DOCS);
  const avgBytes = Math.round(docs.reduce((s, d) => s + JSON.stringify(d).length, 0) / docs.length);
  const results: Record<string, Figures> = {};
  for (const t of list) {
    process.stderr.write(`measuring ${t.name} (${t.uri})...\n`);
    results[t.name] = await measure(t.uri, docs);
  }
  const metrics = Object.keys(results[list[0]!.name]!);
  const rows = metrics.map((m) => ({ m, values: list.map((t) => results[t.name]![m]) }));
  const show = (v: number | string | undefined) => (typeof v === 'number' ? num(v, v < 10 ? 2 : 0) : (v ?? '-'));
  const table = markdownTable(rows, [{ header: 'operation', value: (r) => r.m, align: 'left' }, ...list.map((t, i) => ({ header: t.name, value: (r: (typeof rows)[number]) => show(r.values[i]) }))]);
  process.stdout.write(`\nMongoDB-wire operations: ${DOCS} documents of ~${avgBytes} B\n\n${table}\n\n`);
  process.stdout.write(`results: ${writeResults('ferretdb', { docs: DOCS, avgDocBytes: avgBytes, bulkTimeoutS: BULK_TIMEOUT_S, targets: list, results })}\n`);
}

await main();
