import { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSRequestTimeoutError, KafkaJSSASLAuthenticationError } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { ConflictError } from '../../../src/errors.js';
import { kafkaError } from '../../../src/log/kafka/errors.js';

// kafkajs's typings declare these constructors narrower than the runtime takes (a broker error object, a cause).
const protocol = (type: string, retriable: boolean): Error => new KafkaJSProtocolError({ type, code: 0, retriable, message: `${type} from the broker` } as never);
const retriesExceeded = (cause: Error): Error => new (KafkaJSNumberOfRetriesExceeded as unknown as new (e: Error, o: { retryCount: number; retryTime: number }) => Error)(cause, { retryCount: 5, retryTime: 100 });
const SaslError = KafkaJSSASLAuthenticationError as unknown as new (message: string) => Error;

/** kafkajs errors (its own classes) map to our codes and retryable flags in one place. */
describe('kafkaError', () => {
  it.each([
    [protocol('MESSAGE_TOO_LARGE', false), 'AS_TOO_LARGE', false],
    [protocol('RECORD_LIST_TOO_LARGE', false), 'AS_TOO_LARGE', false],
    [protocol('INVALID_PRODUCER_EPOCH', false), 'AS_FENCED', false],
    [protocol('PRODUCER_FENCED', false), 'AS_FENCED', false],
    [protocol('UNKNOWN_TOPIC_OR_PARTITION', true), 'AS_NOT_FOUND', true],
    [protocol('NOT_LEADER_FOR_PARTITION', true), 'AS_UNAVAILABLE', true],
    [protocol('LEADER_NOT_AVAILABLE', true), 'AS_UNAVAILABLE', true],
    [protocol('TOPIC_AUTHORIZATION_FAILED', false), 'AS_UNAVAILABLE', false],
    [new SaslError('bad password'), 'AS_UNAVAILABLE', false],
    [new KafkaJSConnectionError('Connection error: ECONNREFUSED'), 'AS_UNAVAILABLE', true],
    [new KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out'), 'AS_UNAVAILABLE', true],
    [retriesExceeded(protocol('NOT_LEADER_FOR_PARTITION', true)), 'AS_UNAVAILABLE', true],
    [retriesExceeded(protocol('MESSAGE_TOO_LARGE', false)), 'AS_TOO_LARGE', false],
  ])('%s -> %s', (err, code, retryable) => {
    const mapped = kafkaError('append to t', err, 2_000_000);
    expect(mapped.code).toBe(code);
    expect(mapped.retryable).toBe(retryable);
    expect(mapped.cause).toBe(err);
    expect(mapped.message).toContain('append to t');
  });

  it('passes our own errors through unchanged', () => {
    const ours = new ConflictError('x');
    expect(kafkaError('w', ours)).toBe(ours);
  });
});
