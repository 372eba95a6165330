import type { EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { ConsumeOptions, Consumer } from '../port.js';
import { toStored } from './partition-reader.js';

/**
 * A kafkajs group consumer that commits a partition's offset only after the
 * handler has resolved for the batch (DESIGN.md Invariant 4). A handler error
 * stops the consumer with nothing committed past the failed batch, so a
 * restart redelivers it.
 */
export async function runConsumer(kafka: Kafka, options: ConsumeOptions, logger?: Logger): Promise<Consumer> {
  const consumer = kafka.consumer({
    groupId: options.group,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 100,
    sessionTimeout: options.sessionTimeoutMs ?? 30_000,
    heartbeatInterval: Math.min(3000, Math.floor((options.sessionTimeoutMs ?? 30_000) / 3)),
    retry: { retries: 10 },
  });
  await consumer.connect();
  await consumer.subscribe({ topics: options.topics, fromBeginning: options.fromBeginning ?? true });
  let failure: unknown;
  let stopping: Promise<void> | undefined;
  // The batches being handled (one per partition at most): stop() lets them finish and commit before leaving the group.
  const current = new Set<Promise<void>>();
  let resolveDone!: () => void;
  let rejectDone!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await Promise.all([...current].map((w) => w.catch(() => undefined)));
      await consumer.disconnect().catch((err: unknown) => logger?.warn({ err }, 'consumer disconnect failed'));
      if (failure !== undefined) rejectDone(failure);
      else resolveDone();
    })();
    return stopping;
  };
  const maxRecords = options.maxBatchRecords ?? 500;
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: options.partitionsConcurrently ?? 1,
    eachBatch: async (payload) => {
      if (failure !== undefined || stopping) return;
      const work = handleBatch(payload);
      current.add(work);
      try {
        await work;
      } finally {
        current.delete(work);
      }
    },
  });
  async function handleBatch({ batch, resolveOffset, commitOffsetsIfNecessary, isRunning, isStale, heartbeat }: EachBatchPayload): Promise<void> {
    {
      const all = batch.messages.filter((m) => !(m as { isControlRecord?: boolean }).isControlRecord);
      for (let i = 0; i < all.length; i += maxRecords) {
        if (!isRunning() || isStale() || failure !== undefined || options.signal?.aborted) return;
        const chunk = all.slice(i, i + maxRecords).map((m) => toStored(batch.topic, batch.partition, m));
        if (chunk.length === 0) continue;
        try {
          await options.handler({ topic: batch.topic, partition: batch.partition, records: chunk, highWatermark: batch.highWatermark });
        } catch (err) {
          failure = err;
          logger?.error({ err, topic: batch.topic, partition: batch.partition }, 'consumer handler failed; stopping');
          void stop();
          return;
        }
        const last = chunk[chunk.length - 1]!;
        resolveOffset(last.offset);
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
        await heartbeat();
      }
      await commitOffsetsIfNecessary();
    }
  }
  consumer.on(consumer.events.CRASH, (e) => {
    const payload = e.payload as { error: unknown; restart: boolean };
    if (!payload.restart) {
      failure ??= payload.error;
      void stop();
    }
  });
  if (options.signal) {
    // setImmediate: an abort fired from inside the handler must see its batch in `current`.
    if (options.signal.aborted) void stop();
    else options.signal.addEventListener('abort', () => setImmediate(() => void stop()), { once: true });
  }
  return { done, stop };
}
