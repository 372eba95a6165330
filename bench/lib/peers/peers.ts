/**
 * The peers of the benchmark, each used the way its documentation shows:
 * LangGraph.js checkpointers (MongoDB on the same FerretDB server, SQLite at
 * synchronous=FULL like our embedded log, PostgreSQL on the stack's
 * PostgreSQL 15), Emmett's PostgreSQL event store, a naive MongoDB
 * `replaceOne` upsert, and a raw kafkajs producer (the ceiling: no state).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql';
import type { Checkpoint, CheckpointMetadata } from '@langchain/langgraph-checkpoint';
import { uuid6, type BaseCheckpointSaver } from '@langchain/langgraph-checkpoint';
import { MongoDBSaver } from '@langchain/langgraph-checkpoint-mongodb';
import { PostgresSaver } from '@langchain/langgraph-checkpoint-postgres';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import Database from 'better-sqlite3';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import type { StackEnv } from '../../../test/support/env.js';
import { dirBytes, kafkaTopicBytes, type PgSizes } from './measure.js';
import type { PeerFactory, PeerSystem } from './system.js';
import { applyUpdate, type ChatState, type ChatUpdate } from './workload.js';

/** The saver's own mongodb driver (it pins 6.x; ours is 7.x), so it runs as its users run it. */
const saverMongo = createRequire(import.meta.resolve('@langchain/langgraph-checkpoint-mongodb'))('mongodb') as { MongoClient: typeof MongoClient };

/**
 * A LangGraph thread per agent, one channel `chat` holding the whole state:
 * each write is `put` of a new checkpoint (LangGraph keeps every checkpoint),
 * a read is `getTuple` of the thread's latest.
 */
function checkpointer(name: string, durability: string, saver: BaseCheckpointSaver, bytes: () => Promise<number>, cleanup: () => Promise<void>): PeerSystem {
  const configs = new Map<number, { configurable: Record<string, string> }>();
  let clock = 0;
  const put = async (agent: number, state: ChatState): Promise<void> => {
    const base = configs.get(agent) ?? { configurable: { thread_id: `chat-${agent}`, checkpoint_ns: '' } };
    const checkpoint: Checkpoint = {
      v: 4,
      // uuid6 orders by time then clock sequence: a per-process counter keeps same-tick ids ordered.
      id: uuid6(clock++ % 16384),
      ts: new Date().toISOString(),
      channel_values: { chat: state },
      channel_versions: { chat: state.counter + 1 },
      versions_seen: {},
    };
    const metadata: CheckpointMetadata = { source: 'loop', step: state.counter, parents: {} };
    const next = await saver.put(base, checkpoint, metadata, { chat: state.counter + 1 });
    configs.set(agent, next as { configurable: Record<string, string> });
  };
  return {
    name,
    durability,
    async seed(agents, initial) {
      for (let a = 0; a < agents; a++) await put(a, initial(a));
    },
    write: (agent, _u, next) => put(agent, next),
    async read(agent) {
      const t = await saver.getTuple({ configurable: { thread_id: `chat-${agent}`, checkpoint_ns: '' } });
      return t?.checkpoint.channel_values.chat as ChatState | undefined;
    },
    storedBytes: bytes,
    close: cleanup,
  };
}

export function langgraphMongo(env: StackEnv, stamp: string, sizes: PgSizes): PeerFactory {
  return async (cell) => {
    const dbName = `bench_peers_${stamp}_${cell}_lgm`;
    const client = new saverMongo.MongoClient(env.mongodbUri);
    await client.connect();
    const saver = new MongoDBSaver({ client: client as never, dbName });
    await saver.setup();
    return checkpointer(
      'LangGraph MongoDBSaver (FerretDB)',
      'FerretDB/PostgreSQL commit (fsync)',
      saver,
      () => sizes.schema(dbName),
      async () => {
        await client
          .db(dbName)
          .dropDatabase()
          .catch(() => undefined);
        await client.close();
      },
    );
  };
}

export function langgraphSqlite(): PeerFactory {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-peers-lgs-'));
    const db = new Database(join(dir, 'checkpoints.sqlite'));
    // SqliteSaver turns WAL on; better-sqlite3 builds with WAL synchronous=NORMAL,
    // so FULL is set here to match our embedded log (fsync per commit).
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    const saver = new SqliteSaver(db);
    return checkpointer(
      'LangGraph SqliteSaver',
      'SQLite WAL, synchronous=FULL (set for the benchmark)',
      saver,
      async () => {
        if (db.pragma('synchronous', { simple: true }) !== 2) throw new Error('SqliteSaver is not at synchronous=FULL');
        return dirBytes(dir);
      },
      async () => {
        db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    );
  };
}

export function langgraphPostgres(pgUrl: (db: string) => string, stamp: string, sizes: PgSizes): PeerFactory {
  return async (cell) => {
    const db = `bench_peers_${stamp}_${cell}_lgp`;
    await sizes.exec(`CREATE DATABASE ${db}`);
    const saver = PostgresSaver.fromConnString(pgUrl(db));
    await saver.setup();
    return checkpointer(
      'LangGraph PostgresSaver',
      'PostgreSQL 15 commit (fsync, synchronous_commit=on)',
      saver,
      () => sizes.database(db),
      async () => {
        await saver.end();
        await sizes.exec(`DROP DATABASE IF EXISTS ${db}`);
      },
    );
  };
}

// Emmett's events carry plain records; the workload's types are closed interfaces.
type ChatEvent = { type: 'ChatStarted'; data: { state: ChatState } & Record<string, unknown> } | { type: 'MessageAppended'; data: ChatUpdate & Record<string, unknown> };

/**
 * Emmett: a stream per agent, `appendToStream` with the expected version
 * (optimistic concurrency), one event per update carrying the delta; a read
 * is `aggregateStream` (the fold of the stream: Emmett's way to get state
 * without a projection).
 */
export function emmettPostgres(pgUrl: (db: string) => string, stamp: string, sizes: PgSizes): PeerFactory {
  return async (cell) => {
    const db = `bench_peers_${stamp}_${cell}_emm`;
    await sizes.exec(`CREATE DATABASE ${db}`);
    const store = getPostgreSQLEventStore(pgUrl(db));
    await store.schema.migrate();
    const versions = new Map<number, bigint>();
    const evolve = (s: ChatState, e: ChatEvent): ChatState => (e.type === 'ChatStarted' ? e.data.state : applyUpdate(s, e.data));
    return {
      name: 'Emmett PostgreSQL event store',
      durability: 'PostgreSQL 15 commit (fsync, synchronous_commit=on)',
      async seed(agents, initial) {
        for (let a = 0; a < agents; a++) {
          const r = await store.appendToStream<ChatEvent>(`chat-${a}`, [{ type: 'ChatStarted', data: { state: initial(a) } }], { expectedStreamVersion: 'STREAM_DOES_NOT_EXIST' });
          versions.set(a, r.nextExpectedStreamVersion);
        }
      },
      async write(agent, update) {
        const r = await store.appendToStream<ChatEvent>(`chat-${agent}`, [{ type: 'MessageAppended', data: { ...update } }], { expectedStreamVersion: versions.get(agent)! });
        versions.set(agent, r.nextExpectedStreamVersion);
      },
      async read(agent) {
        const r = await store.aggregateStream<ChatState, ChatEvent>(`chat-${agent}`, { evolve, initialState: () => ({ messages: [], counter: -1, status: 'running' }) });
        return r.streamExists ? r.state : undefined;
      },
      storedBytes: () => sizes.database(db),
      async close() {
        await store.close();
        await sizes.exec(`DROP DATABASE IF EXISTS ${db}`);
      },
    };
  };
}

/** The naive way: one document per agent, `replaceOne({_id}, state, {upsert: true})`, read by `findOne`. */
export function naiveMongo(env: StackEnv, stamp: string, sizes: PgSizes): PeerFactory {
  return async (cell) => {
    const dbName = `bench_peers_${stamp}_${cell}_naive`;
    const client = new MongoClient(env.mongodbUri);
    await client.connect();
    const coll = client.db(dbName).collection<{ _id: string } & ChatState>('chats');
    const put = async (agent: number, s: ChatState): Promise<void> => {
      await coll.replaceOne({ _id: `chat-${agent}` }, { ...s }, { upsert: true });
    };
    return {
      name: 'MongoDB replaceOne upsert (FerretDB)',
      durability: 'FerretDB/PostgreSQL commit (fsync)',
      async seed(agents, initial) {
        for (let a = 0; a < agents; a++) await put(a, initial(a));
      },
      write: (agent, _u, next) => put(agent, next),
      async read(agent) {
        const d = await coll.findOne({ _id: `chat-${agent}` });
        return d ? { messages: d.messages, counter: d.counter, status: d.status } : undefined;
      },
      storedBytes: () => sizes.schema(dbName),
      async close() {
        await client
          .db(dbName)
          .dropDatabase()
          .catch(() => undefined);
        await client.close();
      },
    };
  };
}

/** The ceiling: kafkajs `send` (acks=all, idempotent) of each update's JSON, keyed by agent; nothing to read. */
export function rawKafka(env: StackEnv, stamp: string, kafkaLogDir: string): PeerFactory {
  return async (cell) => {
    const topic = `bench-peers-${stamp}-${cell}.raw`;
    const kafka = new Kafka({ brokers: env.kafkaBrokers, clientId: 'bench-peers', logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 6, replicationFactor: 1 }], waitForLeaders: true });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const send = async (agent: number, value: unknown): Promise<void> => {
      await producer.send({ topic, acks: -1, messages: [{ key: `chat-${agent}`, value: JSON.stringify(value) }] });
    };
    let seeded = 0;
    return {
      name: 'kafkajs send (ceiling, no state)',
      durability: 'Kafka acks=all (1 broker, page cache: no fsync per write)',
      async seed(agents, initial) {
        for (let a = 0; a < agents; a++) await send(a, initial(a));
        seeded = agents;
      },
      write: (agent, update) => send(agent, update),
      async verifyStored(writes) {
        const offsets = await admin.fetchTopicOffsets(topic);
        const stored = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
        return stored === writes + seeded ? undefined : `${stored} records, ${writes + seeded} sent`;
      },
      storedBytes: async () => kafkaTopicBytes(kafkaLogDir, topic),
      async close() {
        await producer.disconnect();
        await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
        await admin.disconnect();
      },
    };
  };
}
