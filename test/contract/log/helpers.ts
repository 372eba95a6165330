import { randomBytes } from 'node:crypto';
import type { ConsumedBatch, Consumer, ConsumeOptions, EventLog, StoredRecord, TopicSpec } from '../../../src/log/port.js';

/** What each section of the contract suite gets from the adapter under test. */
export interface LogContext {
  log(): EventLog;
  /** Creates a fresh topic with a name no other test uses. */
  topic(spec?: Partial<Omit<TopicSpec, 'name'>>): Promise<string>;
  /** A fresh topic name (not created). */
  topicName(): string;
  /** A fresh consumer group name. */
  group(): string;
}

export function unique(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

export function rec(key: string, value: string | Buffer | null, extra: { headers?: Record<string, string>; timestamp?: number } = {}) {
  return { key, value: typeof value === 'string' ? Buffer.from(value) : value, ...extra };
}

/** Records grouped by partition, each list in delivery order. */
export function byPartition(records: StoredRecord[]): Map<number, StoredRecord[]> {
  const map = new Map<number, StoredRecord[]>();
  for (const r of records) {
    const list = map.get(r.partition) ?? [];
    list.push(r);
    map.set(r.partition, list);
  }
  return map;
}

export interface Collected {
  batches: ConsumedBatch[];
  records: StoredRecord[];
}

/**
 * Runs a consumer until `enough(records so far)` holds, then stops it (which
 * commits the batch in hand) and returns what was delivered. Rejects after
 * `timeoutMs` with what arrived, so a missing record fails loudly.
 */
export async function consumeUntil(log: EventLog, options: Omit<ConsumeOptions, 'handler'>, enough: (records: StoredRecord[]) => boolean, timeoutMs = 60_000): Promise<Collected> {
  const collected: Collected = { batches: [], records: [] };
  let satisfied!: () => void;
  const reached = new Promise<void>((resolve) => (satisfied = resolve));
  const consumer = await log.consume({
    ...options,
    handler: async (batch) => {
      collected.batches.push(batch);
      collected.records.push(...batch.records);
      if (enough(collected.records)) satisfied();
    },
  });
  try {
    await raceTimeout([reached, consumer.done], timeoutMs, () => `only ${collected.records.length} records arrived`);
  } finally {
    await consumer.stop();
  }
  return collected;
}

/** Waits until `check` returns true, polling; rejects with `what` after `timeoutMs`. */
export async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Settles like the first of `promises` to settle, or rejects after `ms`; the timer never outlives it. */
export async function raceTimeout(promises: Promise<unknown>[], ms: number, what: () => string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what()}`)), ms);
  });
  try {
    await Promise.race([...promises, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise with its resolve function, for handlers the test releases by hand. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Starts a consumer whose handler is held by the test; returns it once the first batch is in the handler. */
export async function heldConsumer(
  log: EventLog,
  options: Omit<ConsumeOptions, 'handler'>,
): Promise<{
  consumer: Consumer;
  first: ConsumedBatch;
  release: () => void;
}> {
  const gate = deferred();
  const arrived = deferred();
  let first: ConsumedBatch | undefined;
  const consumer = await log.consume({
    ...options,
    handler: async (batch) => {
      if (!first) {
        first = batch;
        arrived.resolve();
        await gate.promise;
      }
    },
  });
  await raceTimeout([arrived.promise, consumer.done], 60_000, () => 'no batch arrived');
  return { consumer, first: first!, release: gate.resolve };
}
