import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaJSProtocolError, type Producer } from 'kafkajs';
import { createKafka } from '../../../src/log/kafka/connection.js';
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

  it('after Kafka refuses the producer state (out-of-order sequence after a broker restart), the next append goes through on a new producer', async () => {
    // The broker's answer is injected into the first producer's first send (it cannot be provoked on demand:
    // ci3 at 368c94e met it after the broker-kill test's restart, and every later send failed the same way).
    const kafka = createKafka({ brokers: stackEnv().kafkaBrokers });
    const producers: Producer[] = [];
    const made = kafka.producer.bind(kafka);
    kafka.producer = (config) => {
      const producer = made(config);
      // The first producer is refused for good, as the stuck writers were.
      if (producers.push(producer) === 1) producer.send = () => Promise.reject(Object.assign(new KafkaJSProtocolError('The broker received an out of order sequence number'), { type: 'OUT_OF_ORDER_SEQUENCE_NUMBER' }));
      return producer;
    };
    const other = new KafkaEventLog({ kafka });
    try {
      await expect(other.append(topic, [{ key: 'k', value: Buffer.from('refused') }])).rejects.toMatchObject({ code: 'AS_UNAVAILABLE' });
      const [r] = await other.append(topic, [{ key: 'k', value: Buffer.from('after') }]);
      expect(r?.offset).toMatch(/^\d+$/);
      expect(producers).toHaveLength(2);
      const [stored] = await other.read(topic, 0, r!.offset, String(BigInt(r!.offset) + 1n));
      expect(stored?.value?.toString()).toBe('after');
    } finally {
      await other.close();
    }
  });
});
