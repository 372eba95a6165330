export { createKafka, type KafkaConnectionOptions } from './connection.js';
export { registerLz4Codec } from './lz4.js';
export { pinoLogCreator } from './logger.js';
