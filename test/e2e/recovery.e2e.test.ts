import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentStateClient, JsonEventCodec, RegistryEventCodec, type EventCodec } from '../../src/client/index.js';
import { RegistryCodec } from '../../src/codec/registry.js';
import { KafkaEventLog } from '../../src/log/kafka/index.js';
import type { EventLog } from '../../src/log/port.js';
import { SqliteEventLog } from '../../src/log/sqlite/index.js';
import { topicNames } from '../../src/log/topics.js';
import { MongoConnection } from '../../src/store/mongo/connection.js';
import { MongoRecoveryRecordStore } from '../../src/store/mongo/recovery-records.js';
import type { RecoveryRecord } from '../../src/store/recovery-records.js';
import { SqliteRecoveryRecordStore } from '../../src/store/sqlite/recovery-records.js';
import { stackEnv, uniqueName } from '../support/env.js';
import { acks, startRecovery, startRuntime, stop, waitFor, type Proc } from './recovery-support.js';

/**
 * Issue 15, "Done when": runtime hosts and the recovery service as separate
 * processes, 3 hosts x 20 counter agents writing every 100 ms on servers (the
 * issue's 60; RECOVERY_E2E_AGENTS_PER_HOST sets another size), 3 x 6 on the
 * embedded case. Set
 * E2E_DEBUG_DIR to keep every process's output in files. The zombie case runs on Kafka: on the embedded profile a SIGSTOPped process can
 * be stopped inside a SQLite write transaction and hold the file's write lock
 * for everyone until it is resumed (see docs/recovery.md).
 */
const dir = mkdtempSync(join(tmpdir(), 'agentstate-recovery-e2e-'));
const procs: Proc[] = [];
afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Agents per host: the 60 on servers (3 x 20); 6 per host on the embedded case, which is about the recovery instances. */
let perHost = 6;
const ids = (node: string) => Array.from({ length: perHost }, (_, i) => `${node}-agent-${i}`);
const servedBy = (p: Proc, id: string) => (acks(p).get(id)?.length ?? 0) > 0;

interface Profile {
  env: Record<string, string>;
  cli: string[];
  openLog(): Promise<{ log: EventLog; codec: EventCodec }>;
  records(): Promise<{ list(): Promise<RecoveryRecord[]>; close(): Promise<void> }>;
}

function embedded(name: string): Profile {
  const data = join(dir, name);
  return {
    env: { AGENTSTATE_DATA_DIR: data, AGENTSTATE_TOPIC_PREFIX: 'e2e.', KAFKA_BROKERS: '', LOG_LEVEL: 'warn', RECOVERY_LEASE_MS: '3000' },
    cli: ['--data-dir', data, '--backend', 'embedded'],
    openLog: async () => ({ log: new SqliteEventLog({ path: join(data, 'log.sqlite') }), codec: new JsonEventCodec() }),
    records: async () => {
      const s = new SqliteRecoveryRecordStore({ path: join(data, 'store.sqlite') });
      return { list: () => s.list({ limit: 1000 }), close: () => s.close() };
    },
  };
}

function servers(): Profile {
  const stack = stackEnv();
  const prefix = `${uniqueName('rec')}.`;
  const database = uniqueName('rec').replace(/-/g, '_');
  return {
    env: {
      KAFKA_BROKERS: stack.kafkaBrokers.join(','),
      SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
      MONGODB_URI: stack.mongodbUri,
      AGENTSTATE_MONGO_DATABASE: database,
      AGENTSTATE_TOPIC_PREFIX: prefix,
      LOG_LEVEL: process.env.E2E_DEBUG_DIR ? 'info' : 'warn',
      RECOVERY_LEASE_MS: '3000',
    },
    cli: ['--backend', 'servers'],
    openLog: async () => ({
      log: new KafkaEventLog({ brokers: stack.kafkaBrokers }),
      codec: await RegistryEventCodec.create(new RegistryCodec({ url: stack.schemaRegistryUrl }), topicNames(prefix).events),
    }),
    records: async () => {
      const c = await MongoConnection.connect({ uri: stack.mongodbUri, database });
      const s = new MongoRecoveryRecordStore(c);
      return {
        list: () => s.list({ limit: 1000 }),
        close: async () => {
          await c.db.dropDatabase();
          await c.close();
        },
      };
    },
  };
}

/** The final state of every agent (folded from the log) against every acknowledged count. */
async function expectNoAcknowledgedWriteLost(profile: Profile, agents: string[], hosts: Proc[]): Promise<void> {
  const { log, codec } = await profile.openLog();
  const reader = await AgentStateClient.connect({ log, codec, topicPrefix: profile.env.AGENTSTATE_TOPIC_PREFIX!, bootstrap: false, scope: 'fleet' });
  try {
    for (const id of agents) {
      const all = hosts.flatMap((h) => acks(h).get(id) ?? []);
      // The final count is the highest acknowledged one (the last writer stopped cleanly), and no count was acknowledged twice.
      expect(reader.getState(id)!.state.memory.count, id).toBe(Math.max(...all));
      expect(new Set(all).size, `${id} acknowledged a count twice`).toBe(all.length);
    }
  } finally {
    await reader.close();
    await log.close();
  }
}

async function startFleet(profile: Profile): Promise<Proc[]> {
  const hosts = ['node-a', 'node-b', 'node-c'].map((n) => startRuntime(n, ids(n), profile.env, profile.cli));
  procs.push(...hosts);
  for (const h of hosts) await waitFor(`${h.name} ready`, () => h.lines.some((l) => l.startsWith('ready ')), 120_000, h.output);
  await waitFor('every agent writing', () => hosts.every((h) => ids(h.name).every((id) => servedBy(h, id))), 30_000);
  return hosts;
}

async function serversKillAndZombie(): Promise<void> {
  {
    // The 60 agents (3 x 20). RECOVERY_E2E_AGENTS_PER_HOST sets another size (6 for a quick run).
    perHost = Number(process.env.RECOVERY_E2E_AGENTS_PER_HOST ?? 20);
    const profile = servers();
    const recovery = startRecovery('rec-1', profile.env);
    procs.push(recovery);
    const [a, b, c] = (await startFleet(profile)) as [Proc, Proc, Proc];

    a.child.kill('SIGKILL');
    await a.exited;
    // 60 s, not 30: at load average ~27 on the shared 2-core machine, 20 agents took 19 to 37 s to serve
    // on the survivors (the hosts themselves then managed a write every few seconds per agent).
    await waitFor(
      'node-a agents serving on survivors',
      () => ids('node-a').every((id) => servedBy(b, id) || servedBy(c, id)),
      60_000,
      () => recovery.output(),
    );
    for (const id of ids('node-a')) {
      const last = Math.max(...(acks(a).get(id) ?? [0]));
      const next = [...(acks(b).get(id) ?? []), ...(acks(c).get(id) ?? [])];
      // The survivor continues from the log: every count node-a acknowledged is below what it writes next.
      expect(Math.min(...next), id).toBeGreaterThan(last);
    }

    // The zombie: node-b stops (SIGSTOP), is presumed dead, its agents move to node-c; resumed, its next write is fenced and it stops them.
    b.child.kill('SIGSTOP');
    await waitFor(
      'node-b agents serving on node-c',
      () => ids('node-b').every((id) => servedBy(c, id)),
      60_000,
      () => recovery.output(),
    );
    b.child.kill('SIGCONT');
    await waitFor('node-b fenced on each agent', () => ids('node-b').every((id) => b.lines.includes(`fenced ${id}`)), 30_000, b.output);

    const records = await profile.records();
    try {
      // A host acknowledges writes before its next heartbeat tells the recovery service it serves:
      // the records are judged once the service has finished them, not while it is still waiting.
      await waitFor(
        'every recovery finished',
        async () => (await records.list()).every((r) => r.status !== 'in_progress'),
        30_000,
        () => recovery.output(),
      );
      await Promise.all([stop(b), stop(c)]);
      await stop(recovery);
      await expectNoAcknowledgedWriteLost(profile, [...ids('node-a'), ...ids('node-b'), ...ids('node-c')], [a, b, c]);
      const all = await records.list();
      for (const id of [...ids('node-a'), ...ids('node-b')]) {
        const r = all.filter((x) => x.instanceId === id && x.status === 'succeeded');
        expect(r.length, `${id}: ${JSON.stringify(all.filter((x) => x.instanceId === id))}`).toBeGreaterThanOrEqual(1);
        expect(r[0]!.failure.type).toBe('node_silent');
        expect(r[0]!.result?.checksum).toMatch(/^[0-9a-f]{64}$/);
        expect(r[0]!.steps.map((st) => st.name)).toEqual(expect.arrayContaining(['detect', 'plan', 'command', 'serving', 'validate']));
        // The seed's RecoveryPlan fields, as stored in recovery_records on this profile.
        const plan = r[0]!.plan!;
        expect(plan).toMatchObject({ failureType: 'node_silent', plannedSteps: ['plan', 'command', 'serving', 'validate'], rollbackPlan: { action: 'none', epoch: r[0]!.failure.failedEpoch } });
        expect(plan.estimatedDuration).toBeGreaterThan(0);
        expect(plan.successProbability).toBeGreaterThan(0);
        expect(plan.successProbability).toBeLessThan(1);
        expect(plan.rollbackPlan.version).toBeGreaterThan(0);
        expect(r[0]!.result!.durationMs).toBeGreaterThan(0);
      }
      // node-c never failed: none of its agents was recovered.
      expect(all.filter((x) => x.instanceId.startsWith('node-c-'))).toEqual([]);
    } finally {
      await records.close();
    }
  }
}

describe('recovery engine: runtime hosts and the recovery service as processes', () => {
  it(
    "servers: kill -9 of one of three runtime processes hosting the issue's 60 agents under write load moves its agents to survivors with no acknowledged write lost; a SIGSTOPped host is recovered and, resumed, is fenced and stops",
    serversKillAndZombie,
  );

  it('embedded: kill -9 of the recovery instance working on a recovery neither loses nor doubles it', async () => {
    perHost = 6;
    const profile = embedded('instance-kill');
    const [a, b, c] = (await startFleet(profile)) as [Proc, Proc, Proc];
    const r1 = startRecovery('rec-1', profile.env);
    const r2 = startRecovery('rec-2', profile.env);
    procs.push(r1, r2);
    // Both instances see every host alive before the failure.
    await waitFor('recovery instances started', () => [r1, r2].every((r) => r.lines.some((l) => l.includes('recovery started'))), 120_000);
    await new Promise((r) => setTimeout(r, 3000));
    const records = await profile.records();
    try {
      a.child.kill('SIGKILL');
      // Kill the instance that owns the first recovery record, while it is in progress.
      let victim: string | undefined;
      await waitFor(
        'a recovery in progress',
        async () => {
          victim = (await records.list()).find((r) => r.status === 'in_progress')?.owner;
          return victim !== undefined;
        },
        30_000,
        () => r1.output() + r2.output(),
      );
      const [killed, survivor] = victim === 'rec-1' ? [r1, r2] : [r2, r1];
      killed.child.kill('SIGKILL');
      await waitFor(
        'node-a agents serving on survivors',
        () => ids('node-a').every((id) => servedBy(b, id) || servedBy(c, id)),
        40_000,
        () => survivor.output(),
      );
      await waitFor(
        'every record finished',
        async () => (await records.list()).filter((r) => r.status === 'in_progress').length === 0,
        30_000,
        () => survivor.output(),
      );
      const all = await records.list();
      for (const id of ids('node-a')) {
        // One failure, one record, succeeded; the agent runs on exactly one host.
        expect(
          all.filter((r) => r.instanceId === id).map((r) => r.status),
          id,
        ).toEqual(['succeeded']);
      }
      expect(
        all.some((r) => r.generation > 1),
        'the surviving instance took over a lapsed lease',
      ).toBe(true);
    } finally {
      await records.close();
    }
    await Promise.all([stop(b), stop(c), stop(r1), stop(r2)]);
    for (const id of ids('node-a')) {
      const hostsNow = [b, c].filter((h) => servedBy(h, id) && !h.lines.includes(`fenced ${id}`));
      expect(hostsNow.length, `${id} on ${hostsNow.map((h) => h.name).join(', ')}`).toBe(1);
    }
    await expectNoAcknowledgedWriteLost(profile, [...ids('node-a'), ...ids('node-b'), ...ids('node-c')], [a, b, c]);
  });
});
