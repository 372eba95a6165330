import { KafkaEventLog } from '../../../src/log/kafka/index.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { eventLogContract } from './suite.js';

eventLogContract(
  'KafkaEventLog',
  async () => ({
    log: new KafkaEventLog({ brokers: stackEnv().kafkaBrokers, clientId: uniqueName('contract') }),
    topicPrefix: `${uniqueName('contract')}.`,
  }),
  // Commits travel to the broker: give an early commit time to show up.
  { settleMs: 3000 },
);
