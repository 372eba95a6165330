import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaEventLog } from '../../../src/log/kafka/index.js';
import { stackEnv, uniqueName } from '../../support/env.js';

/** The Kafka adapter's errors on a real broker: codes a caller can branch on, not kafkajs classes. */
describe('KafkaEventLog errors', () => {
  let log: KafkaEventLog;
  const topic = uniqueName('errs');
  beforeAll(async () => {
    log = new KafkaEventLog({ brokers: stackEnv().kafkaBrokers });
    await log.setup([{ name: topic, partitions: 1, compacted: false }]);
  });
  afterAll(async () => {
    await log.close();
  });

  it('a record past the broker limit is AS_TOO_LARGE, not retryable (it used to surface as a retryable unavailability)', async () => {
    const err = await log.append(topic, [{ key: 'k', value: randomBytes(3 * 1024 * 1024) }]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AS_TOO_LARGE', retryable: false });
    // The log is still usable after it.
    const [r] = await log.append(topic, [{ key: 'k', value: Buffer.from('ok') }]);
    expect(r?.offset).toMatch(/^\d+$/);
  });

  it('a topic that does not exist is AS_NOT_FOUND', async () => {
    await expect(log.partitionFor(uniqueName('missing'), 'k')).rejects.toMatchObject({ code: 'AS_NOT_FOUND' });
  });

  it('use after close is AS_CLOSED', async () => {
    const other = new KafkaEventLog({ brokers: stackEnv().kafkaBrokers });
    await other.endOffsets(topic);
    await other.close();
    await expect(other.append(topic, [{ key: 'k', value: Buffer.from('x') }])).rejects.toMatchObject({ code: 'AS_CLOSED', retryable: false });
    await expect(other.read(topic, 0, '0', '1')).rejects.toMatchObject({ code: 'AS_CLOSED' });
  });
});
