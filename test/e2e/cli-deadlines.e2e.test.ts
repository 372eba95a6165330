import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { stackEnv, uniqueName } from '../support/env.js';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', '..', 'bin', 'agentstate.js');
const SECRET = 'hunter2';
/** The per-server deadline the runs below are given (AGENTSTATE_CONNECT_TIMEOUT_MS). */
const DEADLINE_MS = 1500;
/** Process start (tsx or dist, on a loaded machine) + the deadline + closing: far below the minutes a driver retries for. */
const BOUND_MS = 30_000;

/** A loopback port nobody listens on: bound once by us, then released. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The CLI in this process (a spawned one pays seconds of start-up per run on
 * a loaded machine): env set for the call, stderr captured.
 */
async function inProcess(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string; stdout: string; ms: number }> {
  const saved = { ...process.env };
  const write = process.stderr.write.bind(process.stderr);
  const writeOut = process.stdout.write.bind(process.stdout);
  let stderr = '';
  let stdout = '';
  for (const k of Object.keys(process.env)) if (/^(KAFKA_|SCHEMA_|MONGODB_|S3_|REDIS_|AGENTSTATE_|AWS_)/.test(k)) delete process.env[k];
  Object.assign(process.env, { AGENTSTATE_CONNECT_TIMEOUT_MS: String(DEADLINE_MS), ...env });
  process.stderr.write = ((chunk: string) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  process.stdout.write = ((chunk: string) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  const started = Date.now();
  try {
    const code = await main(args);
    // The AWS SDK's one-time warning about Node 20 (printed by Node, not by us) is not a line of ours.
    stderr = stderr.replace(/\(node:\d+\) Warning: NodeVersionSupportWarning[\s\S]*?--trace-warnings[^\n]*\n/, '');
    return { code, stderr, stdout, ms: Date.now() - started };
  } finally {
    process.stderr.write = write;
    process.stdout.write = writeOut;
    process.env = saved;
  }
}

async function spawned(args: string[], env: Record<string, string>): Promise<{ code: number | null; killed: boolean; stderr: string; ms: number }> {
  const started = Date.now();
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(KAFKA_|SCHEMA_|MONGODB_|S3_|REDIS_|AGENTSTATE_|AWS_)/.test(k)));
  try {
    const { stderr } = await run('node', [cli, ...args], { env: { ...base, AGENTSTATE_CONNECT_TIMEOUT_MS: String(DEADLINE_MS), ...env }, timeout: BOUND_MS * 3, killSignal: 'SIGKILL' });
    return { code: 0, killed: false, stderr, ms: Date.now() - started };
  } catch (e) {
    const err = e as { code?: number; killed?: boolean; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : null, killed: err.killed === true, stderr: err.stderr ?? '', ms: Date.now() - started };
  }
}

/**
 * Issue 12 §1: every command reaches each server it needs within a deadline,
 * then says which server and which variable to check, and exits non-zero;
 * a command opens only what it uses (status needs neither S3 nor Redis).
 */
describe('CLI commands against a server nobody answers on', () => {
  let servers: Record<string, string>;
  let dead: string;
  beforeAll(async () => {
    const s = stackEnv();
    servers = {
      KAFKA_BROKERS: s.kafkaBrokers.join(','),
      MONGODB_URI: s.mongodbUri,
      AGENTSTATE_MONGO_DATABASE: uniqueName('deadlines'),
      S3_ENDPOINT: s.s3.endpoint,
      S3_BUCKET: s.s3.bucket,
      S3_ACCESS_KEY: s.s3.accessKeyId,
      S3_SECRET_KEY: s.s3.secretAccessKey,
      AGENTSTATE_TOPIC_PREFIX: `${uniqueName('deadlines')}.`,
    };
    dead = `127.0.0.1:${await deadPort()}`;
    const setup = await inProcess(['topics'], servers);
    expect(setup.code, setup.stderr).toBe(0);
  });

  /** The servers' settings without S3's access key and secret. */
  const withoutS3Keys = (): Record<string, string> => Object.fromEntries(Object.entries(servers).filter(([k]) => k !== 'S3_ACCESS_KEY' && k !== 'S3_SECRET_KEY'));
  /** Nothing for the AWS credential chain to find: no profile files, no instance metadata (the AWS_ variables are cleared per run). */
  const NO_AWS_CHAIN = { AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/agentstate-credentials', AWS_CONFIG_FILE: '/nonexistent/agentstate-config', AWS_EC2_METADATA_DISABLED: 'true' };

  /** One server made unreachable (its variable pointed at a dead port), and the line that must name it. */
  const DOWN: Record<'kafka' | 'registry' | 'mongo' | 's3' | 'redis', () => { env: () => Record<string, string>; names: RegExp }> = {
    kafka: () => ({ env: () => ({ ...servers, KAFKA_BROKERS: dead }), names: /cannot reach Kafka at .*\(check KAFKA_BROKERS\)/ }),
    registry: () => ({ env: () => ({ ...servers, SCHEMA_REGISTRY_URL: `http://reguser:${SECRET}@${dead}` }), names: /cannot reach the schema registry at .*\(check SCHEMA_REGISTRY_URL\)/ }),
    mongo: () => ({ env: () => ({ ...servers, MONGODB_URI: `mongodb://u:${SECRET}@${dead}` }), names: /cannot reach MongoDB at .*\(check MONGODB_URI\)/ }),
    s3: () => ({ env: () => ({ ...servers, S3_ENDPOINT: `http://${dead}` }), names: /cannot reach S3 at .*\(check S3_ENDPOINT\)/ }),
    redis: () => ({ env: () => ({ ...servers, REDIS_URL: `redis://:${SECRET}@${dead}` }), names: /cannot reach Redis at .*\(check REDIS_URL\)/ }),
  };

  const cases: { name: string; args: string[]; env: () => Record<string, string>; names: RegExp }[] = [
    { name: 'status, Kafka down', args: ['status'], env: () => ({ ...servers, KAFKA_BROKERS: dead }), names: /cannot reach Kafka at .*\(check KAFKA_BROKERS\)/ },
    {
      name: 'inspect, registry down (its URL has credentials)',
      args: ['inspect', 'a-1'],
      env: () => ({ ...servers, SCHEMA_REGISTRY_URL: `http://reguser:${SECRET}@${dead}` }),
      names: /cannot reach the schema registry at http:\/\/\*\*\*:\*\*\*@.*\(check SCHEMA_REGISTRY_URL\)/,
    },
    { name: 'list, MongoDB down', args: ['list', '--backend', 'servers'], env: () => ({ ...servers, MONGODB_URI: `mongodb://${dead}` }), names: /cannot reach MongoDB at .*\(check MONGODB_URI\)/ },
    { name: 'projector, S3 down', args: ['projector', '--until-caught-up'], env: () => ({ ...servers, S3_ENDPOINT: `http://${dead}` }), names: /cannot reach S3 at .*\(check S3_ENDPOINT\)/ },
    // Issue 12 §1: S3 answers but has no credentials to take, or refuses them: the line names the credential settings.
    {
      name: 'snapshot, S3 credentials missing (none set, none in the AWS credential chain)',
      args: ['snapshot', 'a-1'],
      env: () => ({ ...withoutS3Keys(), ...NO_AWS_CHAIN }),
      names: /S3 at .* has no credentials.*\(check S3_ACCESS_KEY and S3_SECRET_KEY, or the AWS credential chain \(AWS_ACCESS_KEY_ID/,
    },
    {
      name: 'projector, S3 credentials missing',
      args: ['projector', '--until-caught-up'],
      env: () => ({ ...withoutS3Keys(), ...NO_AWS_CHAIN }),
      names: /S3 at .* has no credentials.*\(check S3_ACCESS_KEY and S3_SECRET_KEY/,
    },
    {
      name: 'backup status, S3 credentials refused',
      args: ['backup', 'status'],
      env: () => ({ ...servers, S3_SECRET_KEY: SECRET }),
      names: /S3 at .* refused the credentials .*\(check S3_ACCESS_KEY and S3_SECRET_KEY\)/,
    },
    { name: 'projector, Redis down', args: ['projector', '--until-caught-up'], env: () => ({ ...servers, REDIS_URL: `redis://:${SECRET}@${dead}` }), names: /cannot reach Redis at .*\(check REDIS_URL\)/ },
    // Every other command, one by one against each server it opens (issue 12 §1).
    ...(
      [
        ['status', ['status'], 'mongo'],
        ['history', ['history', 'a-1'], 'kafka'],
        ['state --at', ['state', 'a-1', '--at', '1'], 'registry'],
        ['rollback', ['rollback', 'a-1', '1'], 'kafka'],
        ['topics', ['topics'], 'kafka'],
        ['replay', ['replay', '--group', 'g', '--to', 'earliest'], 'kafka'],
        ['projector', ['projector', '--until-caught-up'], 'mongo'],
        ['snapshot', ['snapshot', 'a-1'], 's3'],
        ['snapshot', ['snapshot', 'a-1'], 'mongo'],
        ['start', ['start', '--agents', '1', '--duration', '2s'], 's3'],
        ['start', ['start', '--agents', '1', '--duration', '2s'], 'redis'],
        ['backup status', ['backup', 'status'], 's3'],
        ['backup verify', ['backup', 'verify'], 's3'],
        ['backup status', ['backup', 'status'], 'kafka'],
        ['restore', ['restore', '--to', 'latest', '--target-prefix', 'restored.'], 's3'],
        ['restore', ['restore', '--to', 'latest', '--target-prefix', 'restored.'], 'mongo'],
        ['recovery list', ['recovery', 'list'], 'mongo'],
        ['analytics', ['analytics', 'a-1'], 'mongo'],
        ['anomalies', ['anomalies'], 'mongo'],
        ['top', ['top', '--count', '1'], 'mongo'],
        ['runtime', ['runtime', '--node-id', 'n-1'], 'kafka'],
        ['doctor', ['doctor'], 'kafka'],
        ['doctor', ['doctor'], 'mongo'],
      ] as const
    ).map(([command, args, server]) => ({ name: `${command}, ${server} down`, args: [...args], ...DOWN[server]() })),
  ];

  it.each(cases)('$name: one line naming the server and its variable, non-zero exit, within the deadline', async ({ args, env, names }) => {
    const r = await inProcess(args, env());
    // doctor reports on stdout: the check it could not run names the server.
    if (args[0] === 'doctor') {
      expect(r.code, r.stdout).toBe(1);
      expect(r.stdout).toMatch(names);
      expect(r.stdout).not.toContain(SECRET);
      expect(r.ms).toBeLessThan(DEADLINE_MS + 5000);
      return;
    }
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    expect(r.stderr).toMatch(names);
    expect(r.stderr).toContain('AS_UNAVAILABLE');
    expect(r.stderr).not.toContain(SECRET);
    expect(r.ms).toBeLessThan(DEADLINE_MS + 5000);
  });

  it('status needs neither S3 nor Redis', async () => {
    const r = await inProcess(['status', '--json'], { ...servers, S3_ENDPOINT: `http://${dead}`, REDIS_URL: `redis://${dead}` });
    expect(r.code, r.stderr).toBe(0);
  });

  it('a whole process (status on a prefix with no topics: it printed the error, then a Kafka socket kept it alive) exits at once', async () => {
    const r = await spawned(['status'], { ...servers, AGENTSTATE_TOPIC_PREFIX: `${uniqueName('notopics')}.` });
    expect(r.killed, `hung: ${r.stderr}`).toBe(false);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/AS_NOT_FOUND: topic .*events \(create the topics with agentstate topics\)/);
    expect(r.ms).toBeLessThan(BOUND_MS);
  });

  it('a whole process (projector, Redis down: it used to hang with no message) exits within the deadline', async () => {
    const r = await spawned(['projector', '--until-caught-up'], { ...servers, REDIS_URL: `redis://:${SECRET}@${dead}` });
    expect(r.killed, `hung: ${r.stderr}`).toBe(false);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/cannot reach Redis at .*\(check REDIS_URL\)/);
    expect(r.stderr).not.toContain(SECRET);
    expect(r.ms).toBeLessThan(BOUND_MS);
  });
});
