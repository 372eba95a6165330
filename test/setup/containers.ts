/**
 * The same server set as scripts/stack and docker-compose.yml, started with
 * testcontainers where a Docker engine exists. Host ports are the stack's, so
 * advertised addresses (Kafka) are known before the containers start.
 */
import type { StackVars } from './resolve.js';

export const IMAGES = {
  kafka: 'apache/kafka:4.1.1',
  registry: 'apicurio/apicurio-registry:3.3.3',
  mongo: 'mongo:7.0.14',
  s3: 'versity/versitygw:v1.8.0',
  redis: 'redis:7.4.1',
} as const;

export async function startContainers(): Promise<{ vars: StackVars; stop: () => Promise<void> }> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const access = 'agentstate';
  const secret = 'agentstate-secret';
  const [kafka, registry, mongo, s3, redis] = await Promise.all([
    new GenericContainer(IMAGES.kafka)
      .withExposedPorts({ container: 19092, host: 19092 })
      .withEnvironment({
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_LISTENERS: 'PLAINTEXT://:19092,CONTROLLER://:9093',
        KAFKA_ADVERTISED_LISTENERS: 'PLAINTEXT://127.0.0.1:19092',
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
        KAFKA_NUM_PARTITIONS: '3',
      })
      .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
      .start(),
    new GenericContainer(IMAGES.registry).withExposedPorts({ container: 8080, host: 18081 }).withWaitStrategy(Wait.forHttp('/apis/ccompat/v7/subjects', 8080)).start(),
    new GenericContainer(IMAGES.mongo).withExposedPorts({ container: 27017, host: 27117 }).start(),
    new GenericContainer(IMAGES.s3)
      .withExposedPorts({ container: 7070, host: 17070 })
      .withEnvironment({ ROOT_ACCESS_KEY: access, ROOT_SECRET_KEY: secret })
      .withCommand(['--health', '/health', 'posix', '/tmp/vgw'])
      .withWaitStrategy(Wait.forHttp('/health', 7070))
      .start(),
    new GenericContainer(IMAGES.redis).withExposedPorts({ container: 6379, host: 16379 }).start(),
  ]);
  const vars: StackVars = {
    KAFKA_BROKERS: '127.0.0.1:19092',
    SCHEMA_REGISTRY_URL: 'http://127.0.0.1:18081/apis/ccompat/v7',
    MONGODB_URI: 'mongodb://127.0.0.1:27117/',
    S3_ENDPOINT: 'http://127.0.0.1:17070',
    S3_ACCESS_KEY: access,
    S3_SECRET_KEY: secret,
    S3_BUCKET: 'agentstate',
    REDIS_URL: 'redis://127.0.0.1:16379',
  };
  return {
    vars,
    stop: async () => {
      await Promise.allSettled([kafka, registry, mongo, s3, redis].map((c) => c.stop()));
    },
  };
}
