import type { StackEnv } from './env.js';

/**
 * The environment `services/projector/main.ts` needs to run on the shared
 * stack with its own topic prefix and database (one place for the e2e tests
 * and the benchmarks that spawn it). Add tuning variables on top.
 */
export function projectorServiceEnv(env: StackEnv, prefix: string, database: string): Record<string, string> {
  return {
    KAFKA_BROKERS: env.kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: env.schemaRegistryUrl,
    MONGODB_URI: env.mongodbUri,
    AGENTSTATE_MONGO_DATABASE: database,
    ...(env.ferretdbPostgresUrl === undefined ? {} : { AGENTSTATE_FERRETDB_POSTGRES_URL: env.ferretdbPostgresUrl }),
    S3_ENDPOINT: env.s3.endpoint,
    S3_BUCKET: env.s3.bucket,
    S3_ACCESS_KEY: env.s3.accessKeyId,
    S3_SECRET_KEY: env.s3.secretAccessKey,
    REDIS_URL: env.redisUrl,
    AGENTSTATE_TOPIC_PREFIX: prefix,
  };
}
