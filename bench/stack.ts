/**
 * Server settings for benchmarks: the stack variables when all are set, else
 * `scripts/stack up` (same rule as the test setup, without testcontainers).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseExports, toStackEnv, varsFromEnv } from '../test/setup/resolve.js';
import type { StackEnv } from '../test/support/env.js';

const run = promisify(execFile);

export async function benchStack(): Promise<StackEnv> {
  const fromEnv = varsFromEnv(process.env);
  if (fromEnv) return toStackEnv(fromEnv, 'env');
  const { stdout } = await run('bash', [join(import.meta.dirname, '..', 'scripts', 'stack'), 'up'], {
    maxBuffer: 16 * 1024 * 1024,
    timeout: 30 * 60_000,
  });
  const vars = varsFromEnv(parseExports(stdout));
  if (!vars) throw new Error(`scripts/stack up printed no usable settings:\n${stdout}`);
  return toStackEnv(vars, 'scripts/stack');
}
