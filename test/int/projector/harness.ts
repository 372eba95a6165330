import { setTimeout as sleep } from 'node:timers/promises';
import { S3BlobStore } from '../../../src/blob/s3.js';
import { RedisCache } from '../../../src/cache/redis.js';
import { JsonEventCodec } from '../../../src/client/index.js';
import { fold, type Projection, type StateEvent } from '../../../src/domain/index.js';
import { KafkaEventLog } from '../../../src/log/kafka/index.js';
import type { EventLog } from '../../../src/log/port.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { Projector, type ProjectorOptions } from '../../../src/projector/index.js';
import { MongoStore } from '../../../src/store/mongo/index.js';
import { stateOfRow } from '../../../src/store/state-fields.js';
import { stackEnv, uniqueName } from '../../support/env.js';

export const codec = new JsonEventCodec();

/** One test's private world: topics, database, bucket prefix and cache prefix of its own. */
export interface World {
  prefix: string;
  log: KafkaEventLog;
  blobs: S3BlobStore;
  cache: RedisCache;
  stores: MongoStore[];
  /** A store on a fresh database of this world. */
  newStore(): Promise<MongoStore>;
  projector(store: MongoStore, extra?: Partial<ProjectorOptions>): Projector;
  close(): Promise<void>;
}

export async function world(partitions = 3): Promise<World> {
  const env = stackEnv();
  const prefix = `${uniqueName('proj')}.`;
  const log = new KafkaEventLog({ brokers: env.kafkaBrokers });
  await log.setup(topicSpecs({ prefix, partitions }));
  const blobs = new S3BlobStore({ ...env.s3, prefix: prefix });
  await blobs.setup();
  const cache = new RedisCache({ url: env.redisUrl, prefix: `${prefix}cache:` });
  const stores: MongoStore[] = [];
  const w: World = {
    prefix,
    log,
    blobs,
    cache,
    stores,
    async newStore() {
      const store = await MongoStore.connect({ uri: env.mongodbUri, database: uniqueName('proj').replace(/[-.]/g, '_') });
      await store.setup();
      stores.push(store);
      return store;
    },
    projector(store, extra = {}) {
      return new Projector({
        log,
        codec,
        store,
        blobs,
        cache,
        topicPrefix: prefix,
        group: `${prefix}projector`,
        sweepIntervalMs: 0,
        ...extra,
      });
    },
    async close() {
      for (const s of stores) {
        await s.connection.db.dropDatabase().catch(() => undefined);
        await s.close();
      }
      await cache.close();
      await blobs.close();
      await log.close();
    },
  };
  return w;
}

/** Every event of the events topic, per agent, in log order. */
export async function readEvents(log: EventLog, prefix: string): Promise<Map<string, StateEvent[]>> {
  const topic = topicNames(prefix).events;
  const out = new Map<string, StateEvent[]>();
  const start = await log.startOffsets(topic);
  const end = await log.endOffsets(topic);
  for (const [p, until] of Object.entries(end)) {
    for (const r of await log.read(topic, Number(p), start[Number(p)]!, until)) {
      if (r.value === null) continue;
      const list = out.get(r.key) ?? [];
      list.push(await codec.decode(r.value));
      out.set(r.key, list);
    }
  }
  return out;
}

/** The fold of each agent's log: what the projection must equal (DESIGN.md Invariant 2). */
export async function foldLog(log: EventLog, prefix: string): Promise<Map<string, Projection>> {
  const out = new Map<string, Projection>();
  for (const [id, events] of await readEvents(log, prefix)) {
    const p = fold(events).projection;
    if (p) out.set(id, p);
  }
  return out;
}

/** The projection a store row holds (claim-checked bodies fetched from the blob store). */
export async function storedProjection(store: MongoStore, blobs: S3BlobStore, id: string): Promise<Projection | undefined> {
  const row = await store.getState(id);
  if (!row) return undefined;
  const bytes = row.body ?? (await blobs.get(row.blobKey!))!;
  const { decodeState } = await import('../../../src/projector/index.js');
  return { version: row.version, epoch: row.epoch, checksum: row.checksum, state: stateOfRow(row, await decodeState(row.encoding, bytes)) };
}

/** {@link storedProjection} for many agents with one store query (a FerretDB scan per query is the cost). */
export async function storedProjections(store: MongoStore, blobs: S3BlobStore, ids: string[]): Promise<Map<string, Projection>> {
  const { decodeState } = await import('../../../src/projector/index.js');
  const out = new Map<string, Projection>();
  for (const [id, row] of await store.getStates(ids)) {
    const bytes = row.body ?? (await blobs.get(row.blobKey!))!;
    out.set(id, { version: row.version, epoch: row.epoch, checksum: row.checksum, state: stateOfRow(row, await decodeState(row.encoding, bytes)) });
  }
  return out;
}

/**
 * Waits until the projector's group has committed everything on the events
 * topic: every sink (store, snapshots, cache, state topic) of every batch is
 * written by then, since the commit follows them.
 */
export async function waitCaughtUp(projector: Projector, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Object.values(await projector.lag()).some((l) => l > 0n)) {
    if (Date.now() > deadline) throw new Error(`projector did not catch up within ${ms} ms`);
    await sleep(100);
  }
}
