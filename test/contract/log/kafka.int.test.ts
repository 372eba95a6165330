import { KafkaEventLog } from '../../../src/log/kafka/index.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { eventLogContract } from './suite.js';

eventLogContract('KafkaEventLog', async () => ({
  log: new KafkaEventLog({ brokers: stackEnv().kafkaBrokers, clientId: uniqueName('contract') }),
  topicPrefix: `${uniqueName('contract')}.`,
}));
