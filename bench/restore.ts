/**
 * `npm run bench -- restore`: restore onto servers from the S3 backup (issue
 * 14), against the rate the same events were produced at in the same run.
 *   1. produce: the corpus (src/corpus, Avro, 6 partitions) appended to Kafka
 *      (the baseline);
 *   2. archive it to S3 (default segments);
 *   3. restore into new topics, a new MongoDB database and a new S3 prefix:
 *      republish (schema ids mapped through the registry), project until
 *      caught up, verify every agent: records/s and MB/s of the republish and
 *      of the whole restore, the time to the first agent served (its restored
 *      head readable at its final version) and to all verified.
 * The issue asks for 1 GB; the default here is smaller (a 2-core machine
 * shared with other work): --agents and --events scale it, and the table
 * says the size. Options: --quick, --agents N, --events N (per agent).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BackupArchiver, restoreInto, SchemaArchive, SchemaRemapper } from '../src/backup/index.js';
import { S3BlobStore } from '../src/blob/s3.js';
import { RegistryEventCodec } from '../src/client/index.js';
import { RegistryCodec } from '../src/codec/index.js';
import { valueSubject } from '../src/codec/schemas.js';
import { topicNames } from '../src/log/topics.js';
import { MongoStore } from '../src/store/mongo/index.js';
import { appendRoundRobin, corpusEvents } from './lib/corpus-log.js';
import { intArg, pipelineBench } from './lib/pipeline.js';
import { writeResults } from './lib/results.js';
import { num } from './lib/table.js';
import { throughputRow, throughputTable, type ThroughputRow } from './lib/throughput.js';

const quick = process.argv.includes('--quick');
const AGENTS = intArg('--agents', quick ? 100 : 400);
const PER_AGENT = intArg('--events', quick ? 20 : 100);

async function main(): Promise<void> {
  const { env, stamp, prefix, topics, log, codec, blobs } = await pipelineBench('restore');
  const targetPrefix = `bench-restored-${stamp}.`;
  const targetBlobs = new S3BlobStore({ ...env.s3, prefix: targetPrefix });
  // As `agentstate restore` opens it: with FerretDB's PostgreSQL when the environment names it (AGENTSTATE_FERRETDB_POSTGRES_URL).
  const store = await MongoStore.connect({ uri: env.mongodbUri, database: `bench_restore_${stamp}`, ...(env.ferretdbPostgresUrl ? { ferretdbPostgresUrl: env.ferretdbPostgresUrl } : {}) });
  const rows: ThroughputRow[] = [];
  try {
    process.stderr.write(`generating ${AGENTS} x ${PER_AGENT} corpus events...\n`);
    const histories = corpusEvents(AGENTS, PER_AGENT);
    const mb = (await Promise.all(histories.flat().map((e) => codec.encode(e)))).reduce((n, b) => n + b.length, 0) / 1e6;
    let t = performance.now();
    const total = await appendRoundRobin(log, codec, topics.events, histories);
    const produceS = (performance.now() - t) / 1000;
    rows.push(throughputRow('produce (baseline)', total, mb, produceS, '1.00'));

    process.stderr.write(`archiving ${total} records (${num(mb, 1)} MB) to S3...\n`);
    // The registry schemas go into the backup as the service archives them (a restore onto an empty registry needs them).
    const schemas = new SchemaArchive(blobs, new RegistryCodec({ url: env.schemaRegistryUrl }));
    const archiver = new BackupArchiver({ log, blobs, codec, topicPrefix: prefix, schemas, segmentMaxAgeMs: 1000, tickMs: 200, sessionTimeoutMs: 10_000 });
    const stop = new AbortController();
    const running = archiver.run(stop.signal);
    while ((await archiver.lag()).some((l) => l.records !== '0')) await sleep(200);
    stop.abort();
    await running;

    process.stderr.write('restoring into new topics, database and prefix...\n');
    await targetBlobs.setup();
    await store.setup();
    const registry = new RegistryCodec({ url: env.schemaRegistryUrl });
    const t0 = performance.now();
    const remapper = new SchemaRemapper({ blobs, target: registry, subject: valueSubject(topicNames(targetPrefix).events) });
    await remapper.prepare();
    const targetCodec = await RegistryEventCodec.create(registry, topicNames(targetPrefix).events);
    // The first agent served: its restored head readable at its final version.
    const first = histories[0]!.at(-1)!;
    let firstServedS: number | undefined;
    const watcher = (async () => {
      while (firstServedS === undefined) {
        const got = (await store.getStates([first.instanceId]).catch(() => new Map())).get(first.instanceId) as { version: number } | undefined;
        if (got?.version === first.version) firstServedS = (performance.now() - t0) / 1000;
        else await sleep(50);
      }
    })();
    const report = await restoreInto({ blobs, target: { log, codec: targetCodec, store, blobs: targetBlobs, topicPrefix: targetPrefix }, mapValue: remapper.map });
    const allS = (performance.now() - t0) / 1000;
    await Promise.race([watcher, sleep(5000)]);
    if (!report.ok || report.agents !== AGENTS || report.published !== total)
      throw new Error(`restore not verified: ok=${report.ok} agents=${report.agents} published=${report.published} mismatched=${report.mismatched.length}`);
    rows.push(throughputRow('restore: republish', total, mb, report.seconds.republish, num(produceS / report.seconds.republish, 2)));
    rows.push(throughputRow('restore: whole (republish + project + verify)', total, mb, allS, num(produceS / allS, 2)));

    const table = throughputTable(rows, false);
    process.stdout.write(`\nrestore: ${AGENTS} agents x ${PER_AGENT} corpus events (Avro), ${num(mb, 1)} MB of values (not the issue's 1 GB), 6 partitions, Kafka + MongoDB (FerretDB) + S3 (versitygw)\n\n${table}\n\n`);
    process.stdout.write(
      `first agent served after ${num(firstServedS, 2)} s; all ${report.agents} agents verified after ${num(allS, 2)} s (republish ${num(report.seconds.republish, 2)} s, project ${num(report.seconds.project, 2)} s, verify ${num(report.seconds.verify, 2)} s)\n`,
    );
    const file = writeResults(quick ? 'restore-quick' : 'restore', { stamp, agents: AGENTS, eventsPerAgent: PER_AGENT, mb, rows, firstServedS, allVerifiedS: allS, seconds: report.seconds });
    process.stdout.write(`results: ${file}\n`);
  } finally {
    await store.connection.db.dropDatabase().catch(() => undefined);
    await store.close();
    for (const b of [blobs, targetBlobs]) {
      for await (const o of b.list('')) await b.delete(o.key);
      await b.close();
    }
    await log.close();
  }
}

await main();
