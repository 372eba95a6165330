export { createKafka, type KafkaConnectionOptions } from './connection.js';
export { registerLz4Codec } from './lz4.js';
export { pinoLogCreator } from './logger.js';
export { KafkaEventLog, type KafkaEventLogOptions } from './event-log.js';
export { PartitionReader } from './partition-reader.js';
