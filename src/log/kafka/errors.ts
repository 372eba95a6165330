import { AgentStateError, ClosedError, FencedError, NotFoundError, TooLargeError, UnavailableError } from '../../errors.js';

/** What kafkajs errors carry that we classify on (KafkaJSProtocolError has `type`; every KafkaJSError has `retriable`). */
interface KafkajsErrorLike {
  name?: string;
  message?: string;
  type?: string;
  retriable?: boolean;
  cause?: unknown;
  originalError?: unknown;
}

/** Broker error codes (Kafka protocol) that no retry of the same request can fix. */
const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);
const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'FENCED_INSTANCE_ID', 'INVALID_PRODUCER_ID_MAPPING']);
const NOT_FOUND = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'UNKNOWN_TOPIC_ID', 'GROUP_ID_NOT_FOUND']);
const DENIED = new Set(['TOPIC_AUTHORIZATION_FAILED', 'GROUP_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED', 'SASL_AUTHENTICATION_FAILED', 'ILLEGAL_SASL_STATE', 'UNSUPPORTED_SASL_MECHANISM']);

/** The protocol error type inside a kafkajs error, looking through retry wrappers (KafkaJSNumberOfRetriesExceeded keeps the last cause). */
function protocolType(err: KafkajsErrorLike, depth = 0): string | undefined {
  if (typeof err.type === 'string') return err.type;
  const inner = (err.cause ?? err.originalError) as KafkajsErrorLike | undefined;
  return inner && typeof inner === 'object' && depth < 4 ? protocolType(inner, depth + 1) : undefined;
}

/**
 * The one mapping from kafkajs errors to ours (as `src/store/mongo/errors.ts`
 * does for the driver), so callers branch on a code and `retryable` instead
 * of on kafkajs classes: a batch past the broker's size limit will never
 * succeed (AS_TOO_LARGE), a fenced producer must stop (AS_FENCED), a missing
 * topic is AS_NOT_FOUND, stale metadata, a leader move, a timeout or a lost
 * connection are worth retrying (AS_UNAVAILABLE, retryable), and an
 * authorization failure is not (check credentials). Our own errors pass through.
 */
export function kafkaError(what: string, err: unknown, size?: number): AgentStateError {
  if (err instanceof AgentStateError) return err;
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as KafkajsErrorLike;
  const type = protocolType(e);
  const detail = `${type ?? e.name ?? 'error'}: ${e.message ?? String(err)}`;
  if (type !== undefined && TOO_LARGE.has(type)) return new TooLargeError(`${what} (${detail})`, size ?? 0, undefined, { cause: err });
  if (type !== undefined && FENCED.has(type)) return new FencedError(`${what}: the producer was fenced (${detail})`, { cause: err });
  if (type !== undefined && NOT_FOUND.has(type)) return new NotFoundError(`${what}: ${detail}`, { cause: err, retryable: true });
  if ((type !== undefined && DENIED.has(type)) || e.name === 'KafkaJSSASLAuthenticationError') {
    return new UnavailableError(`Kafka (${what}: ${detail}; check the credentials and ACLs)`, { cause: err, retryable: false });
  }
  if (e.name === 'KafkaJSNonRetriableError' && e.retriable === false && type === undefined && /closed|disconnected/i.test(e.message ?? '')) {
    return new ClosedError(`the Kafka client (${what})`, { cause: err });
  }
  // Connection loss, request timeouts, leader moves, stale metadata, coordinator changes:
  // kafkajs marks these retriable; a plain Error from inside kafkajs is treated the same.
  return new UnavailableError(`Kafka (${what}: ${detail})`, { cause: err, retryable: e.retriable !== false || e.name === 'KafkaJSNumberOfRetriesExceeded' });
}

/** Runs a Kafka call and maps what it throws. */
export async function kafkaCall<T>(what: string, fn: () => Promise<T>, size?: number): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw kafkaError(what, err, size);
  }
}
