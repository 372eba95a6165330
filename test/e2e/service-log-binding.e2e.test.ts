import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { projector } from '../../src/cli/commands/projector.js';
import { AgentStateClient, JsonEventCodec } from '../../src/client/index.js';
import { KafkaEventLog } from '../../src/log/kafka/index.js';
import { SqliteEventLog } from '../../src/log/sqlite/index.js';
import { topicNames, topicSpecs } from '../../src/log/topics.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import { stackEnv, uniqueName } from '../support/env.js';
import { repoRoot } from '../support/kill-child.js';
import { projectorServiceEnv } from '../support/service-env.js';

const root = mkdtempSync(join(tmpdir(), 'agentstate-service-binding-'));
/** Every child started, killed after each test (a service that fails to refuse runs on). */
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const SERVICES = ['backup', 'analytics', 'recovery'] as const;
const COMMON = { METRICS_PORT: '0', LOG_LEVEL: 'info' };

interface Run {
  /** Resolves with the output once `line` appears in it. */
  waitFor(line: RegExp): Promise<string>;
  exited: Promise<number | null>;
  stop(): void;
  output(): string;
}

function startService(name: (typeof SERVICES)[number], env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, `services/${name}/main.ts`)], { cwd: repoRoot, env: { ...process.env, ...COMMON, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  const waiting: { re: RegExp; resolve: (s: string) => void }[] = [];
  const onData = (d: Buffer): void => {
    out += d.toString();
    for (const w of waiting.filter((x) => x.re.test(out))) w.resolve(out);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  return {
    waitFor: (re) => (re.test(out) ? Promise.resolve(out) : new Promise((resolve) => waiting.push({ re, resolve }))),
    exited,
    stop: () => void child.kill('SIGTERM'),
    output: () => out,
  };
}

/** The service refuses at start: exit 1 with one fatal line carrying AS_LOG_MISMATCH and the way out. */
async function expectRefused(name: (typeof SERVICES)[number], env: Record<string, string>): Promise<void> {
  const run = startService(name, env);
  const code = await run.exited;
  expect(code, run.output()).toBe(1);
  const fatal = run
    .output()
    .split('\n')
    .filter((l) => l.includes('"level":60'));
  expect(fatal, run.output()).toHaveLength(1);
  expect(fatal[0]).toContain('AS_LOG_MISMATCH');
  expect(fatal[0]).toMatch(/the state store does not match the log: .*agentstate projector --rebuild --until-caught-up.*agentstate doctor/);
  expect(run.output()).not.toContain(`${name} started`);
}

/**
 * Issue 12 §3: "at start every service checks that the log is the same and
 * not behind the store". The projectors did (test/unit/cli/log-binding); the
 * backup, analytics and recovery services started on an emptied or foreign
 * log and ran on it. Each service process is started for real here.
 */
describe('services refuse a log that is not the one their store projects', () => {
  it('embedded: an emptied log.sqlite is refused by backup, analytics and recovery; the same data dir before was accepted', async () => {
    const dir = join(root, 'embedded');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite') });
    await log.setup(topicSpecs({ prefix: 'agentstate.', partitions: 4 }));
    const client = await AgentStateClient.connect({ log, codec: new JsonEventCodec(), bootstrap: false });
    for (const id of ['a-1', 'a-2', 'a-3']) {
      await client.createAgent(id, { agentType: 'demo' });
      await client.memoryUpdated(id, { step: 2 });
    }
    await client.close();
    await log.close();
    const quiet = (): void => undefined;
    expect(await projector(['--until-caught-up', '--data-dir', dir, '--backend', 'embedded'], quiet, quiet)).toBe(0);
    const env = { AGENTSTATE_DATA_DIR: dir, KAFKA_BROKERS: '', MONGODB_URI: '' };

    // The log the store projects: every service starts, and stops cleanly.
    for (const name of SERVICES) {
      const run = startService(name, env);
      await run.waitFor(new RegExp(`${name} started`));
      run.stop();
      expect(await run.exited, run.output()).toBe(0);
    }

    truncateSync(join(dir, 'log.sqlite'), 0); // : > log.sqlite
    for (const name of SERVICES) await expectRefused(name, env);
  });

  it('servers: a MongoDB store bound to another Kafka cluster is refused by backup, analytics and recovery', async () => {
    const stack = stackEnv();
    const prefix = `${uniqueName('svc-bind')}.`;
    const database = uniqueName('svc_bind').replace(/-/g, '_');
    const log = new KafkaEventLog({ brokers: stack.kafkaBrokers });
    await log.setup(topicSpecs({ prefix, partitions: 6 }));
    const store = await MongoStore.connect({ uri: stack.mongodbUri, database });
    try {
      await store.setup();
      const env = { ...projectorServiceEnv(stack, prefix, database), REDIS_URL: '' };
      // Bound to this cluster: accepted (one service stands for the three: they share the check).
      await store.setLogBinding({ logId: await log.identity(), topic: topicNames(prefix).events, boundAt: Date.now() });
      const run = startService('analytics', env);
      await run.waitFor(/analytics started/);
      run.stop();
      expect(await run.exited, run.output()).toBe(0);

      await store.setLogBinding({ logId: 'kafka:another-cluster', topic: topicNames(prefix).events, boundAt: Date.now() });
      for (const name of SERVICES) await expectRefused(name, env);
    } finally {
      await store.connection.db.dropDatabase().catch(() => undefined);
      await store.close();
      await log.close();
    }
  });
});
