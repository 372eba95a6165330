/**
 * `agentstate/servers`: the adapters of the servers profile (Kafka, MongoDB,
 * S3, Redis), for callers that wire their own components.
 */
export { KafkaEventLog, type KafkaEventLogOptions, type KafkaConnectionOptions } from './log/kafka/index.js';
export { MongoStore, MongoConnection, type MongoStoreOptions, type MongoConnectionOptions } from './store/mongo/index.js';
export { MongoDataKeyStore } from './store/mongo/index.js';
export { S3BlobStore, type S3BlobStoreOptions } from './blob/s3.js';
export { RedisCache, type RedisCacheOptions } from './cache/redis.js';
