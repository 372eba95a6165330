/**
 * agentstate in the peers benchmark: the SDK as users open it, on the servers
 * (Kafka + FerretDB + S3 + Redis, a projector in this process) and embedded
 * (SQLite log and store in a directory, its in-process projector). A write is
 * `client.updateState` with the explicit change list; a read is
 * `manager.getCurrentState` (cache, then store).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Change, JsonValue } from '../../../src/domain/index.js';
import { openAgentState, type OpenedAgentState } from '../../../src/sdk/open.js';
import type { StackEnv } from '../../../test/support/env.js';
import { dirBytes, kafkaTopicBytes, type PgSizes } from './measure.js';
import type { PeerFactory, PeerSystem } from './system.js';
import type { ChatState, ChatUpdate } from './workload.js';

const idOf = (agent: number): string => `chat-${agent}`;

function changesOf(u: ChatUpdate): Change[] {
  return [
    { op: 'delete', path: '/memory/messages/0' },
    { op: 'create', path: '/memory/messages/-', newValue: u.message as unknown as JsonValue },
    { op: 'update', path: '/memory/counter', newValue: u.counter },
    { op: 'update', path: '/status', newValue: u.status },
  ];
}

function system(name: string, durability: string, as: OpenedAgentState, bytes: () => Promise<number>, cleanup: () => Promise<void>): PeerSystem {
  const versions = new Map<number, number>();
  return {
    name,
    durability,
    async seed(agents, initial) {
      for (let a = 0; a < agents; a++) {
        const s = initial(a);
        const r = await as.client.createAgent(idOf(a), { agentType: 'chat', status: s.status, memory: { messages: s.messages as unknown as JsonValue, counter: s.counter } });
        versions.set(a, r.newVersion);
      }
    },
    async write(agent, update) {
      const r = await as.client.updateState(idOf(agent), changesOf(update));
      versions.set(agent, r.newVersion);
    },
    async settle() {
      // Read-your-writes: every agent's last acknowledged version is projected.
      for (const [agent, v] of versions) await as.manager.getCurrentState(idOf(agent), { minVersion: v, timeoutMs: 600_000 });
    },
    async read(agent) {
      const view = await as.manager.getCurrentState(idOf(agent));
      if (!view) return undefined;
      const memory = view.state.memory as unknown as { messages: ChatState['messages']; counter: number };
      return { messages: memory.messages, counter: memory.counter, status: view.state.status as ChatState['status'] };
    },
    storedBytes: bytes,
    async close() {
      await as.close();
      await cleanup();
    },
  };
}

/** agentstate on the dev stack's servers; bytes = Kafka segments of its topics + its FerretDB database. */
export function agentstateServers(env: StackEnv, stamp: string, kafkaLogDir: string, sizes: PgSizes, ferretdbPostgresUrl: string | undefined): PeerFactory {
  return async (cell) => {
    const prefix = `bench-peers-${stamp}-${cell}.`;
    const database = `bench_peers_${stamp}_${cell}_as`;
    const as = await openAgentState({
      profile: 'servers',
      env: false,
      servers: {
        kafka: { brokers: env.kafkaBrokers, schemaRegistryUrl: env.schemaRegistryUrl },
        mongo: { uri: env.mongodbUri, database, ...(ferretdbPostgresUrl ? { ferretdbPostgresUrl } : {}) },
        s3: { ...env.s3 },
        redisUrl: env.redisUrl,
      },
      topicPrefix: prefix,
      projector: 'in-process',
    });
    return system(
      'agentstate (servers)',
      'Kafka acks=all (1 broker, page cache: no fsync per write), projector to FerretDB/PostgreSQL (fsync) asynchronously',
      as,
      async () => kafkaTopicBytes(kafkaLogDir, prefix) + (await sizes.schema(database)),
      async () => undefined,
    );
  };
}

/** agentstate embedded: SQLite log (WAL, synchronous=FULL: fsync per append) and store in a temporary directory. */
export function agentstateEmbedded(): PeerFactory {
  return async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'bench-peers-as-'));
    const as = await openAgentState({ profile: 'embedded', env: false, dataDir, projector: 'in-process' });
    return system(
      'agentstate (embedded)',
      'SQLite WAL, synchronous=FULL: fsync before each write returns',
      as,
      async () => dirBytes(dataDir),
      async () => rmSync(dataDir, { recursive: true, force: true }),
    );
  };
}
