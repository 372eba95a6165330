/**
 * Vitest globalSetup for the integration and e2e tiers: one server set per run.
 *
 * 1. If every stack variable (KAFKA_BROKERS, SCHEMA_REGISTRY_URL, ...) is set, use them.
 * 2. Else, if a Docker engine answers, start the servers with testcontainers.
 * 3. Else run `scripts/stack up`, which installs and starts them without Docker.
 *
 * So `npm test` on a fresh machine needs nothing else.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { parseExports, toStackEnv, varsFromEnv, type StackVars } from './resolve.js';
import { startContainers } from './containers.js';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

async function dockerAnswers(): Promise<boolean> {
  if (process.env.AGENTSTATE_TEST_NO_DOCKER === '1') return false;
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function viaScript(): Promise<StackVars> {
  const script = join(root, 'scripts', 'stack');
  process.stderr.write('[test] no stack variables set and no Docker engine: running scripts/stack up\n');
  const child = run('bash', [script, 'up'], { maxBuffer: 16 * 1024 * 1024, timeout: 30 * 60_000 });
  child.child.stderr?.pipe(process.stderr);
  const { stdout } = await child;
  const vars = varsFromEnv(parseExports(stdout));
  if (!vars) throw new Error(`scripts/stack up printed no usable settings:\n${stdout}`);
  return vars;
}

let stopContainers: (() => Promise<void>) | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let vars = varsFromEnv(process.env);
  let source: 'env' | 'testcontainers' | 'scripts/stack' = 'env';
  if (!vars) {
    if (await dockerAnswers()) {
      const started = await startContainers();
      vars = started.vars;
      stopContainers = started.stop;
      source = 'testcontainers';
    } else {
      vars = await viaScript();
      source = 'scripts/stack';
    }
  }
  // Child processes started by e2e tests (services, CLI) read the same variables.
  Object.assign(process.env, vars);
  project.provide('stack', toStackEnv(vars, source));
  return async () => {
    // scripts/stack servers are left running so the next run starts warm;
    // `scripts/stack down` stops them.
    await stopContainers?.();
  };
}
