import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

/** Connection settings of the real servers, found or started by test/setup/stack.ts. */
export interface StackEnv {
  kafkaBrokers: string[];
  schemaRegistryUrl: string;
  mongodbUri: string;
  s3: { endpoint: string; accessKeyId: string; secretAccessKey: string; bucket: string };
  redisUrl: string;
  /** FerretDB on PostgreSQL: the PostgreSQL database under it (scripts/stack); absent on real MongoDB. */
  ferretdbPostgresUrl?: string;
  /** How the servers were provided: env vars, testcontainers, or scripts/stack. */
  source: 'env' | 'testcontainers' | 'scripts/stack';
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackEnv;
  }
}

/** The server set for this run (integration and e2e tiers only). */
export function stackEnv(): StackEnv {
  return inject('stack');
}

/**
 * A name no other test uses: each test takes its own topic, group, database,
 * bucket prefix and key prefix, so tests never see each other (STYLE.md habit 3).
 */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}
