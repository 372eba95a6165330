import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listArchivedSchemas, listBackupPartitions, listManifestVersions, openManifest, readSnapshotCatalog } from '../../src/backup/index.js';
import type { SnapshotRecord } from '../../src/store/port.js';
import { Snapshotter } from '../../src/snapshots/snapshotter.js';
import { S3BlobStore } from '../../src/blob/s3.js';
import { AgentStateClient, RegistryEventCodec } from '../../src/client/index.js';
import { RegistryCodec } from '../../src/codec/index.js';
import { KafkaEventLog } from '../../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../../src/log/topics.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import { repoRoot } from '../support/kill-child.js';
import { stackEnv, uniqueName } from '../support/env.js';

const run = promisify(execFile);
const stack = join(repoRoot, 'scripts', 'stack');
const started = Date.now();
const note = (line: string) => process.stderr.write(`[disaster +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);

/** The configured segment age: a record is in S3 at most about this (plus a tick and the write) after it reached the backup. */
const SEGMENT_AGE_MS = 2000;
/** The RPO window the lost writes must fall in: segment age + tick + write, with room for a loaded 2-core machine. */
const RPO_WINDOW_MS = SEGMENT_AGE_MS + 8000;

function service(name: 'backup' | 'projector', env: NodeJS.ProcessEnv): { child: ChildProcess; exited: Promise<unknown>; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, `services/${name}/main.ts`)], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, exited: new Promise((r) => child.on('exit', r)), output: () => out };
}

/**
 * The disaster of issue 14: the whole Kafka cluster (its data directory) and
 * the whole MongoDB database are lost; only S3 survives. A fresh Kafka and an
 * empty database get every agent back from the backup, each at its state as
 * of the last archived offset, and the acknowledged writes lost are the last
 * few seconds (the RPO), no more. Kafka and MongoDB are a private stack
 * instance (Kafka's data directory is deleted, the database dropped); S3 and
 * the registry are the shared ones, with a prefix of this test's own.
 */
describe('disaster: Kafka data and MongoDB database lost, restored from S3 alone', () => {
  const instance = uniqueName('disaster');
  // Kafka takes port and port + 1 (controller), below Linux's ephemeral range (32768-60999), since it
  // restarts on them (broker-kill uses 30000-31199; the failover test 22000-25599).
  const port = 31_200 + 2 * Math.floor(Math.random() * 700);
  const stackDir = process.env.AGENTSTATE_STACK_DIR ?? join(homedir(), '.cache', 'agentstate', 'stack');
  const mongoPort = 48_001 + 2 * Math.floor(Math.random() * 4000);
  // The registry that replaces the lost one (and its management port + 1), below the ephemeral range too.
  const registryPort = 20_000 + 2 * Math.floor(Math.random() * 500);
  const stackEnvVars = {
    ...process.env,
    AGENTSTATE_STACK_INSTANCE: instance,
    AGENTSTATE_STACK_KAFKA_PORT: String(port),
    AGENTSTATE_STACK_MONGO_PORT: String(mongoPort),
    AGENTSTATE_STACK_REGISTRY_PORT: String(registryPort),
  };
  // Its own PostgreSQL too: a port given to the outer stack (e.g. CI's private instance) must not be inherited.
  delete (stackEnvVars as NodeJS.ProcessEnv).AGENTSTATE_STACK_PG_PORT;
  const mongodbUri = `mongodb://127.0.0.1:${mongoPort}/`;
  const prefix = `${uniqueName('dis')}.`;
  const database = uniqueName('dis').replace(/[-.]/g, '_');
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    await run('bash', [stack, 'up', '--only', 'kafka,mongo'], { env: stackEnvVars, timeout: 600_000 });
    note('private Kafka and MongoDB up');
    env = {
      ...process.env,
      KAFKA_BROKERS: `127.0.0.1:${port}`,
      MONGODB_URI: mongodbUri,
      AGENTSTATE_TOPIC_PREFIX: prefix,
      AGENTSTATE_MONGO_DATABASE: database,
      METRICS_PORT: '0',
      LOG_LEVEL: 'warn',
      BACKUP_SEGMENT_MAX_AGE_MS: String(SEGMENT_AGE_MS),
      BACKUP_TICK_MS: '200',
      BACKUP_SESSION_TIMEOUT_MS: '6000',
      PROJECTOR_SESSION_TIMEOUT_MS: '6000',
      // Snapshots every few events, and the catalog, topic configs and registry subjects carried over often.
      SNAPSHOT_EVERY_EVENTS: '10',
      BACKUP_METADATA_SYNC_MS: '500',
    };
    // The outer stack's PostgreSQL is not the one under this private FerretDB: no containment indexes here.
    delete env.AGENTSTATE_FERRETDB_POSTGRES_URL;
  });
  afterAll(async () => {
    await run('bash', [stack, 'down'], { env: stackEnvVars }).catch(() => undefined);
    rmSync(join(stackDir, 'instances', instance), { recursive: true, force: true });
  });

  it('every agent comes back at its last archived version and checksum; the writes lost are within the RPO window', async () => {
    const brokers = [`127.0.0.1:${port}`];
    const log = new KafkaEventLog({ brokers });
    // Not the default layout: the restore must recreate these configs from the backup, not from its defaults.
    const names = topicNames(prefix);
    const specs = topicSpecs({ prefix, partitions: 6 }).map((t) =>
      t.name === names.events ? { ...t, configs: { 'max.message.bytes': '2097152' } } : t.name === names.control ? { ...t, retentionMs: 86_400_000, configs: { 'max.message.bytes': '524288' } } : t,
    );
    await log.setup(specs);
    const codec = await RegistryEventCodec.create(new RegistryCodec({ url: stackEnv().schemaRegistryUrl }), topicNames(prefix).events);
    note('writer connected');
    const backup = service('backup', env);
    const projector = service('projector', env);

    // The write load: 200 agents, each written in turn, acknowledgments recorded with their checksums.
    const ids = Array.from({ length: 200 }, (_, i) => `dis-agent-${i}`);
    const acked = new Map<string, Map<number, { checksum: string; timestamp: number }>>(ids.map((id) => [id, new Map()]));
    // A broker that has just started answers "coordinator loading" for a while: retry the connect (it resets a group).
    let client: AgentStateClient | undefined;
    for (let i = 0; !client; i++) {
      client = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, bootstrap: false, decisionTimeoutMs: 5000, logger: pino({ level: 'silent' }) }).catch(async (e: unknown) => {
        if (i >= 30) throw e;
        await sleep(1000);
        return undefined;
      });
    }
    const writerClient = client;
    const record = (events: { instanceId: string; version: number; stateChecksum: string; timestamp: number }[]) => {
      for (const e of events) acked.get(e.instanceId)!.set(e.version, { checksum: e.stateChecksum, timestamp: e.timestamp });
    };
    for (const id of ids) record((await writerClient.createAgent(id, { agentType: 'worker' })).generatedEvents);
    let writing = true;
    let ackCount = 0;
    const writer = (async () => {
      for (let n = 0; writing; n++) {
        await Promise.all(
          ids.map(async (id) => {
            if (!writing) return;
            const r = await writerClient.updateState(id, (d) => void (d.memory[`n${n}`] = `${id} ${n} ${'m'.repeat(40)}`)).catch(() => undefined);
            if (r && writing) (record(r.generatedEvents), (ackCount += r.generatedEvents.length));
          }),
        );
        // A paced load (about one round a second): the restore then stays small and fast for CI.
        await sleep(1000);
      }
    })();
    // Run until the backup has archived a good share and keeps up; then the disaster strikes mid-load.
    const s3 = () => {
      const { s3: c } = stackEnv();
      return new S3BlobStore({ endpoint: c.endpoint, accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, bucket: c.bucket, prefix });
    };
    const blobs = s3();
    // Listing is cheap: wait for a few segments per partition (several closes on age under load) and a few rounds written.
    const segments = async () => {
      let n = 0;
      for await (const b of blobs.list('backup/events/')) if (b.key.includes('/manifest/')) n++;
      return n;
    };
    // And a snapshot in the backup's catalog: the restore must bring snapshots back (a loaded machine writes
    // slowly, and the disaster once struck before any agent had reached a snapshot).
    const catalogued = async () => {
      for await (const a of readSnapshotCatalog(blobs)) if (a.snapshots.length > 0) return true;
      return false;
    };
    for (let i = 0; (await segments()) < 18 || ackCount < 1000 || !(await catalogued()); i++) {
      expect(i, `backup archived too little in 240 s:\n${backup.output()}`).toBeLessThan(480);
      await sleep(500);
    }
    note(`${ackCount} updates acknowledged, ${await segments()} segments archived; kill -9 everything`);

    // kill -9 everything: the backup, the projector, the broker (the writer stops acknowledging).
    const killedAt = Date.now();
    const brokerPid = Number(readFileSync(join(stackDir, 'instances', instance, 'run', 'kafka-1.pid'), 'utf8').split(' ')[0]);
    writing = false;
    backup.child.kill('SIGKILL');
    projector.child.kill('SIGKILL');
    process.kill(brokerPid, 'SIGKILL');
    await Promise.all([backup.exited, projector.exited]);
    await Promise.race([writer, sleep(10_000)]);
    // The broker is dead: closing may wait on it, so do not wait long.
    await Promise.race([Promise.allSettled([writerClient.close(), log.close()]), sleep(5000)]);

    // The data is gone: the Kafka data directory, the MongoDB database.
    rmSync(join(stackDir, 'instances', instance, 'data', 'kafka-1'), { recursive: true, force: true });
    note('Kafka data directory deleted');
    const mongo = new MongoClient(mongodbUri);
    await mongo.db(database).dropDatabase();
    await mongo.close();
    // The registry loses the system's subjects too (every version, hard-deleted: their schema ids are gone).
    const registryUrl = stackEnv().schemaRegistryUrl.replace(/\/$/, '');
    const subjectsBefore = await registrySubjects(registryUrl, prefix);
    expect(Object.keys(subjectsBefore)).toContain(`${names.events}-value`);
    for (const subject of Object.keys(subjectsBefore)) {
      for (const permanent of ['', '?permanent=true']) {
        const res = await fetch(`${registryUrl}/subjects/${encodeURIComponent(subject)}${permanent}`, { method: 'DELETE' });
        expect(res.ok, `DELETE ${subject}${permanent}: HTTP ${res.status}`).toBe(true);
      }
    }
    expect(await registrySubjects(registryUrl, prefix)).toEqual({});
    // The restore gets a new, empty registry of its own, which numbers schemas from scratch. Other schemas
    // registered there first take the ids up to the backup's highest, so every schema id of the backup is
    // renumbered and each restored value's 4 id bytes are rewritten (docs/backup.md "restore").
    await run('bash', [stack, 'up', '--only', 'kafka,registry'], { env: stackEnvVars, timeout: 600_000 });
    const newRegistryUrl = `http://127.0.0.1:${registryPort}/apis/ccompat/v7`;
    const highestId = Math.max(...(await listArchivedSchemas(blobs)).map((s) => s.id));
    for (let i = 0; i < highestId; i++) {
      const decoy = await fetch(`${newRegistryUrl}/subjects/${encodeURIComponent(`decoy-${i}-value`)}/versions`, {
        method: 'POST',
        headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
        body: JSON.stringify({ schema: JSON.stringify({ type: 'record', name: `Decoy${i}`, fields: [{ name: 'd', type: 'string' }] }) }),
      });
      expect(decoy.ok, `registering decoy schema ${i}: HTTP ${decoy.status}`).toBe(true);
    }
    note(`fresh, empty Kafka and registry up; MongoDB database dropped; registry subjects ${Object.keys(subjectsBefore).join(', ')} deleted; restoring from S3`);

    // What the backup holds, from the manifests: each agent's last archived version.
    const lastArchived = new Map<string, number>();
    for (const p of await listBackupPartitions(blobs)) {
      for (const v of await listManifestVersions(blobs, p)) {
        const m = await openManifest((await blobs.get(v.key))!, v.key);
        for (const [id, range] of Object.entries(m.segment.agents)) lastArchived.set(id, Math.max(lastArchived.get(id) ?? 0, range.lastVersion));
      }
    }
    // The snapshot catalog the backup holds.
    const catalog = new Map<string, SnapshotRecord[]>();
    for await (const a of readSnapshotCatalog(blobs)) catalog.set(a.instanceId, a.snapshots);
    await blobs.close();

    const restore = await run(process.execPath, [join(repoRoot, 'bin/agentstate.js'), 'restore', '--to', 'latest', '--json'], {
      cwd: repoRoot,
      env: { ...env, SCHEMA_REGISTRY_URL: newRegistryUrl },
      maxBuffer: 16 * 1024 * 1024,
      timeout: 300_000,
    });
    const report = JSON.parse(restore.stdout) as {
      ok: boolean;
      agents: number;
      published: number;
      mismatched: unknown[];
      registry: { subjects: number; versions: number; idsKept: number; idsMapped: number };
      snapshots: { restored: number; referenced: number; copied: number; present: number; missing: string[] };
      topics: { name: string; status: string }[];
    };
    expect({ ok: report.ok, agents: report.agents, mismatched: report.mismatched }).toEqual({ ok: true, agents: ids.length, mismatched: [] });
    note(`restored ${report.published} records; registry ${JSON.stringify(report.registry)}; snapshots ${JSON.stringify({ ...report.snapshots, missing: report.snapshots.missing.length })}`);

    // The registry: every subject back, with the same versions of the same schemas, under new ids (the events
    // decoded through them: the verify above folded every restored value).
    expect(report.registry.idsMapped).toBeGreaterThan(0);
    expect(report.registry.idsKept).toBe(0);
    const subjectsAfter = await registrySubjects(newRegistryUrl.replace(/\/$/, ''), prefix);
    expect(Object.keys(subjectsAfter).sort()).toEqual(Object.keys(subjectsBefore).sort());
    for (const [subject, versions] of Object.entries(subjectsBefore)) {
      expect({ subject, schemas: subjectsAfter[subject]!.map((v) => JSON.parse(v.schema) as unknown) }).toEqual({ subject, schemas: versions.map((v) => JSON.parse(v.schema) as unknown) });
    }
    expect(report.registry.versions).toBeGreaterThanOrEqual(Object.values(subjectsBefore).reduce((n, v) => n + v.length, 0));

    // The topics: created with the source's configurations.
    expect(report.topics.filter((t) => t.status !== 'created')).toEqual([]);
    const fresh = new KafkaEventLog({ brokers });
    try {
      const described = await fresh.describeTopics(specs.map((t) => t.name));
      for (const spec of specs) {
        const d = described.find((x) => x.name === spec.name);
        expect({ name: spec.name, partitions: d?.partitions, policy: d?.configs['cleanup.policy'], retention: d?.configs['retention.ms'], maxBytes: d?.configs['max.message.bytes'] }).toEqual({
          name: spec.name,
          partitions: spec.partitions,
          policy: spec.compacted ? 'compact' : 'delete',
          retention: String(spec.retentionMs),
          maxBytes: spec.configs?.['max.message.bytes'] ?? d?.configs['max.message.bytes'],
        });
      }
    } finally {
      await fresh.close();
    }

    // The snapshot catalog: every snapshot the backup names up to each agent's restored version is back, its body read in place and checked.
    expect(report.snapshots.missing).toEqual([]);
    expect(report.snapshots.copied).toBe(0);
    expect(report.snapshots.referenced).toBeGreaterThan(0);

    // Every agent: version = its last archived version; checksum = what the writer was acknowledged for that version.
    const store = await MongoStore.connect({ uri: mongodbUri, database });
    const bodies = s3();
    try {
      const heads = await store.getStates(ids);
      const snapshotter = new Snapshotter(store, bodies);
      let checked = 0;
      for (const id of ids) {
        const want = (catalog.get(id) ?? []).filter((r) => r.version <= (heads.get(id)?.version ?? 0));
        const got = await store.listSnapshots(id);
        expect({ id, snapshots: got.map((r) => r.snapshotId).sort() }).toEqual({ id, snapshots: want.map((r) => r.snapshotId).sort() });
        for (const r of got) (await snapshotter.load(r), checked++);
      }
      expect(checked).toBe(report.snapshots.restored + report.snapshots.present);
      note(`${checked} snapshots restored from the catalog, every body read from S3 and its state checksum verified`);
    } finally {
      await bodies.close();
    }
    let lost = 0;
    let oldestLost = Infinity;
    try {
      const got = await store.getStates(ids);
      for (const id of ids) {
        const want = lastArchived.get(id);
        const mine = acked.get(id)!;
        const head = got.get(id);
        expect({ id, version: head?.version }).toEqual({ id, version: want });
        // The last archived event may be one the writer sent but never saw acknowledged (in flight at the kill).
        const ack = mine.get(head!.version);
        if (ack) expect({ id, checksum: head!.checksum }).toEqual({ id, checksum: ack.checksum });
        else expect(head!.version, `${id}: restored v${head!.version} is neither acknowledged nor the one in flight`).toBe(Math.max(...mine.keys()) + 1);
        for (const [version, a] of mine) {
          if (version <= head!.version) continue;
          lost++;
          oldestLost = Math.min(oldestLost, a.timestamp);
        }
      }
    } finally {
      await store.close();
    }
    const windowMs = lost === 0 ? 0 : killedAt - oldestLost;
    note(`acknowledged writes lost: ${lost} of ${[...acked.values()].reduce((n, m) => n + m.size, 0)}, the oldest written ${(windowMs / 1000).toFixed(1)} s before the kill (RPO window ${RPO_WINDOW_MS / 1000} s)`);
    expect(windowMs).toBeLessThanOrEqual(RPO_WINDOW_MS);
  }, 600_000);
});

/** The registry's subjects named `<prefix>...`, each with its versions (schema text), oldest first. */
async function registrySubjects(url: string, prefix: string): Promise<Record<string, { version: number; schema: string }[]>> {
  const out: Record<string, { version: number; schema: string }[]> = {};
  const subjects = (await (await fetch(`${url}/subjects`)).json()) as string[];
  for (const subject of subjects.filter((s) => s.startsWith(prefix))) {
    const base = `${url}/subjects/${encodeURIComponent(subject)}/versions`;
    const versions = ((await (await fetch(base)).json()) as number[]).sort((a, b) => a - b);
    out[subject] = [];
    for (const v of versions) out[subject].push((await (await fetch(`${base}/${v}`)).json()) as { version: number; schema: string });
  }
  return out;
}
