import type { StackEnv } from '../support/env.js';

/** Env var names shared by scripts/stack, docker-compose.yml, services and tests. */
export const STACK_VARS = ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'MONGODB_URI', 'S3_ENDPOINT', 'S3_ACCESS_KEY', 'S3_SECRET_KEY', 'S3_BUCKET', 'REDIS_URL'] as const;

/** Printed by scripts/stack when FerretDB runs on PostgreSQL; absent elsewhere (real MongoDB). */
export const FERRETDB_POSTGRES_VAR = 'AGENTSTATE_FERRETDB_POSTGRES_URL';

export type StackVars = Record<(typeof STACK_VARS)[number], string> & { [FERRETDB_POSTGRES_VAR]?: string };

/** The stack vars when every one of them is set, else undefined. */
export function varsFromEnv(env: NodeJS.ProcessEnv): StackVars | undefined {
  const out: Partial<StackVars> = {};
  for (const name of STACK_VARS) {
    const value = env[name];
    if (value === undefined || value === '') return undefined;
    out[name] = value;
  }
  const pg = env[FERRETDB_POSTGRES_VAR];
  if (pg) out[FERRETDB_POSTGRES_VAR] = pg;
  return out as StackVars;
}

/** Parses `export NAME=value` lines as printed by `scripts/stack env`. */
export function parseExports(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2].replace(/^['"]|['"]$/g, '');
  }
  return out;
}

export function toStackEnv(vars: StackVars, source: StackEnv['source']): StackEnv {
  return {
    kafkaBrokers: vars.KAFKA_BROKERS.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    schemaRegistryUrl: vars.SCHEMA_REGISTRY_URL,
    mongodbUri: vars.MONGODB_URI,
    s3: {
      endpoint: vars.S3_ENDPOINT,
      accessKeyId: vars.S3_ACCESS_KEY,
      secretAccessKey: vars.S3_SECRET_KEY,
      bucket: vars.S3_BUCKET,
    },
    redisUrl: vars.REDIS_URL,
    ...(vars[FERRETDB_POSTGRES_VAR] ? { ferretdbPostgresUrl: vars[FERRETDB_POSTGRES_VAR] } : {}),
    source,
  };
}
