import { Kafka, logLevel, type KafkaConfig, type SASLOptions } from 'kafkajs';
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from 'pino';
import { ConfigError } from '../../errors.js';
import { registerLz4Codec } from './lz4.js';
import { pinoLogCreator } from './logger.js';

export interface KafkaConnectionOptions {
  /** host:port list. */
  brokers: string[];
  /** @default 'agentstate' */
  clientId?: string;
  ssl?: boolean | ConnectionOptions;
  sasl?: SASLOptions;
  /** @default 10000 */
  connectionTimeoutMs?: number;
  /** @default 30000 */
  requestTimeoutMs?: number;
  logger?: Logger;
}

/** Builds a kafkajs client with the LZ4 codec registered and logs routed to pino. */
export function createKafka(options: KafkaConnectionOptions): Kafka {
  if (!Array.isArray(options.brokers) || options.brokers.length === 0) {
    throw new ConfigError('brokers', 'at least one broker (host:port) is required');
  }
  for (const b of options.brokers) {
    if (!/^[^\s:]+:\d{1,5}$/.test(b)) throw new ConfigError('brokers', `"${b}" is not host:port`);
  }
  registerLz4Codec();
  const config: KafkaConfig = {
    clientId: options.clientId ?? 'agentstate',
    brokers: options.brokers,
    connectionTimeout: options.connectionTimeoutMs ?? 10_000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    ...(options.ssl !== undefined ? { ssl: options.ssl } : {}),
    ...(options.sasl ? { sasl: options.sasl } : {}),
    logLevel: options.logger ? logLevel.INFO : logLevel.NOTHING,
    ...(options.logger ? { logCreator: pinoLogCreator(options.logger) } : {}),
  };
  return new Kafka(config);
}
