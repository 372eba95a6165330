import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { SchemaArchive } from '../../src/backup/index.js';
import { S3BlobStore } from '../../src/blob/s3.js';
import { RegistryEventCodec } from '../../src/client/index.js';
import { RegistryCodec } from '../../src/codec/index.js';
import { KafkaEventLog } from '../../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../../src/log/topics.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import { repoRoot } from '../support/kill-child.js';
import { stackEnv, uniqueName } from '../support/env.js';
import { archiveUntilCaughtUp, writeAgents } from '../unit/backup/helpers.js';

const prefix = `${uniqueName('rk')}.`;
const dbName = (tag: string) => uniqueName(tag).replace(/[-.]/g, '_');
const databases: string[] = [];

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `agentstate restore` as a user runs it; killed with SIGKILL when `killWhen` says so. */
function restoreCli(args: string[], killWhen?: (stderr: string, ms: number) => boolean): Promise<Run> {
  const child = spawn(process.execPath, [join(repoRoot, 'bin/agentstate.js'), 'restore', ...args], {
    cwd: repoRoot,
    env: { ...process.env, AGENTSTATE_TOPIC_PREFIX: prefix },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run: Run = { code: null, signal: null, stdout: '', stderr: '' };
  const started = Date.now();
  const check = () => {
    if (killWhen && child.exitCode === null && !child.killed && killWhen(run.stderr, Date.now() - started)) child.kill('SIGKILL');
  };
  child.stdout.on('data', (d: Buffer) => (run.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => ((run.stderr += d.toString()), check()));
  const timer = killWhen ? setInterval(check, 50) : undefined;
  return new Promise((res) =>
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      res({ ...run, code, signal });
    }),
  );
}

afterAll(async () => {
  const client = new MongoClient(stackEnv().mongodbUri);
  for (const d of databases)
    await client
      .db(d)
      .dropDatabase()
      .catch(() => undefined);
  await client.close();
});

describe('restore onto servers killed with SIGKILL midway, then re-run', () => {
  const started = Date.now();
  const note = (s: string) => process.stderr.write(`[restore-crash +${((Date.now() - started) / 1000).toFixed(1)}s] ${s}\n`);
  it('gives the same topics, records and agents (version and checksum) as an uninterrupted restore', async () => {
    const stack = stackEnv();
    const log = new KafkaEventLog({ brokers: stack.kafkaBrokers });
    const { s3: c } = stack;
    const backup = new S3BlobStore({ endpoint: c.endpoint, accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, bucket: c.bucket, prefix });
    try {
      await log.setup(topicSpecs({ prefix, partitions: 6 }));
      const registry = new RegistryCodec({ url: stack.schemaRegistryUrl });
      const codec = await RegistryEventCodec.create(registry, topicNames(prefix).events);
      const ids = Array.from({ length: 24 }, (_, i) => `crash-agent-${i}`);
      await writeAgents(log, prefix, ids, 20, 'r', true, codec);
      await backup.setup();
      await archiveUntilCaughtUp({ log, blobs: backup, codec, topicPrefix: prefix, schemas: new SchemaArchive(backup, registry), segmentMaxBytes: 64 * 1024, sessionTimeoutMs: 10_000 }, 120_000);
      note('archived');
      const total = ids.length * 21;

      const killedPrefix = `${uniqueName('rkk')}.`;
      const killedDb = dbName('rkk');
      const cleanPrefix = `${uniqueName('rkc')}.`;
      const cleanDb = dbName('rkc');
      databases.push(killedDb, cleanDb);
      const target = ['--to', 'latest', '--target-prefix', killedPrefix, '--target-database', killedDb];
      // 1: killed at its first progress line (some partitions republished, others not).
      const first = await restoreCli(target, (err) => /restore: \d+ records/.test(err));
      expect(first.signal, first.stderr).toBe('SIGKILL');
      note('first run killed');
      const afterFirst = Object.values(await log.endOffsets(topicNames(killedPrefix).events)).reduce((n, e) => n + Number(e), 0);
      expect(afterFirst).toBeGreaterThan(0);
      expect(afterFirst).toBeLessThan(total);
      // 2: killed again a little later (republishing or projecting).
      const second = await restoreCli(target, (err, ms) => /restore: \d+ records/.test(err) && ms > 300);
      expect(second.signal ?? second.code, second.stderr).not.toBe(1);
      note('second run ended');
      // 3: to the end.
      const third = await restoreCli([...target, '--json']);
      expect(third.code, third.stderr).toBe(0);
      const report = JSON.parse(third.stdout) as { ok: boolean; published: number; present: number; agents: number };
      expect({ ok: report.ok, agents: report.agents, all: report.published + report.present }).toEqual({ ok: true, agents: ids.length, all: total });
      expect(report.present).toBeGreaterThanOrEqual(afterFirst);

      note('third run done');
      // The reference: one uninterrupted restore.
      const clean = await restoreCli(['--to', 'latest', '--target-prefix', cleanPrefix, '--target-database', cleanDb, '--json']);
      expect(clean.code, clean.stderr).toBe(0);

      note('clean run done');
      // Same records in the same partitions at the same offsets (nothing doubled, nothing missing)...
      const [a, b] = [topicNames(killedPrefix).events, topicNames(cleanPrefix).events];
      const ends = await log.endOffsets(a);
      expect(ends).toEqual(await log.endOffsets(b));
      for (const [p, end] of Object.entries(ends)) {
        const ra = await log.read(a, Number(p), '0', end);
        const rb = await log.read(b, Number(p), '0', end);
        expect(ra.map((r) => [r.offset, r.key, r.timestamp, r.headers, r.value?.toString('base64')])).toEqual(rb.map((r) => [r.offset, r.key, r.timestamp, r.headers, r.value?.toString('base64')]));
      }
      // ...and the same agents, version and checksum.
      const [sa, sb] = await Promise.all([MongoStore.connect({ uri: stack.mongodbUri, database: killedDb }), MongoStore.connect({ uri: stack.mongodbUri, database: cleanDb })]);
      try {
        const [ga, gb] = await Promise.all([sa.getStates(ids), sb.getStates(ids)]);
        for (const id of ids) {
          expect(ga.get(id)?.version).toBe(21);
          expect({ id, v: ga.get(id)?.version, c: ga.get(id)?.checksum }).toEqual({ id, v: gb.get(id)?.version, c: gb.get(id)?.checksum });
        }
      } finally {
        await Promise.allSettled([sa.close(), sb.close()]);
      }
    } finally {
      await Promise.allSettled([log.close(), backup.close()]);
    }
  }, 400_000);
});
