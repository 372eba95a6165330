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
async function inProcess(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string; ms: number }> {
  const saved = { ...process.env };
  const write = process.stderr.write.bind(process.stderr);
  let stderr = '';
  for (const k of Object.keys(process.env)) if (/^(KAFKA_|SCHEMA_|MONGODB_|S3_|REDIS_|AGENTSTATE_)/.test(k)) delete process.env[k];
  Object.assign(process.env, { AGENTSTATE_CONNECT_TIMEOUT_MS: String(DEADLINE_MS), ...env });
  process.stderr.write = ((chunk: string) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  const started = Date.now();
  try {
    const code = await main(args);
    return { code, stderr, ms: Date.now() - started };
  } finally {
    process.stderr.write = write;
    process.env = saved;
  }
}

async function spawned(args: string[], env: Record<string, string>): Promise<{ code: number | null; killed: boolean; stderr: string; ms: number }> {
  const started = Date.now();
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(KAFKA_|SCHEMA_|MONGODB_|S3_|REDIS_|AGENTSTATE_)/.test(k)));
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
    { name: 'projector, Redis down', args: ['projector', '--until-caught-up'], env: () => ({ ...servers, REDIS_URL: `redis://:${SECRET}@${dead}` }), names: /cannot reach Redis at .*\(check REDIS_URL\)/ },
  ];

  it.each(cases)('$name: one line naming the server and its variable, non-zero exit, within the deadline', async ({ args, env, names }) => {
    const r = await inProcess(args, env());
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

  it('a whole process (projector, Redis down: it used to hang with no message) exits within the deadline', async () => {
    const r = await spawned(['projector', '--until-caught-up'], { ...servers, REDIS_URL: `redis://:${SECRET}@${dead}` });
    expect(r.killed, `hung: ${r.stderr}`).toBe(false);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/cannot reach Redis at .*\(check REDIS_URL\)/);
    expect(r.stderr).not.toContain(SECRET);
    expect(r.ms).toBeLessThan(BOUND_MS);
  });
});
