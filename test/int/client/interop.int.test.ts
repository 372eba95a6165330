import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStateClient, RegistryEventCodec } from '../../../src/client/index.js';
import { RegistryCodec } from '../../../src/codec/index.js';
import { KafkaEventLog, registerLz4Codec } from '../../../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { stackEnv, uniqueName } from '../../support/env.js';

const run = promisify(execFile);
const kafkaScript = join(import.meta.dirname, '..', '..', '..', 'scripts', 'kafka');

describe('events on the wire are standard Confluent-framed Avro', () => {
  let log: KafkaEventLog;
  let prefix: string;

  beforeAll(async () => {
    log = new KafkaEventLog({ brokers: stackEnv().kafkaBrokers });
    prefix = `${uniqueName('interop')}.`;
    await log.setup(topicSpecs({ prefix, partitions: 2 }));
    const codec = await RegistryEventCodec.create(new RegistryCodec({ url: stackEnv().schemaRegistryUrl }), topicNames(prefix).events);
    const client = await AgentStateClient.connect({ log, codec, topicPrefix: prefix });
    await client.createAgent('interop-1', { agentType: 'planner' });
    await client.updateState('interop-1', (d) => void d.capabilities.push('search'), { eventType: 'capability_added' });
    await client.updateState('interop-1', (d) => void (d.memory.note = 'naïve café — ünïcödé ✓'));
    await client.close();
  });
  afterAll(async () => {
    await log.close();
  });

  it('a plain kafkajs consumer decodes them with the registry client alone', async () => {
    registerLz4Codec(); // the batches are lz4-compressed
    const kafka = new Kafka({ brokers: stackEnv().kafkaBrokers, logLevel: logLevel.NOTHING });
    const registry = new SchemaRegistry({ host: stackEnv().schemaRegistryUrl });
    const consumer = kafka.consumer({ groupId: uniqueName('plain') });
    const seen: Array<{ eventType: string; version: number; changeset: Array<{ newValue: string | null }> }> = [];
    await consumer.connect();
    await consumer.subscribe({ topic: topicNames(prefix).events, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachMessage: async ({ message }) => {
            expect(message.value![0]).toBe(0); // Confluent magic byte
            seen.push(await registry.decode(message.value!));
            if (seen.length === 3) resolve();
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    expect(seen.map((e) => [e.eventType, Number(e.version)])).toEqual([
      ['instance_created', 1],
      ['capability_added', 2],
      ['state_patched', 3],
    ]);
    expect(JSON.parse(seen[2]!.changeset[0]!.newValue!)).toBe('naïve café — ünïcödé ✓');
  });

  it('a reader with only the registry, a JSON Pointer walk and SHA-256 re-verifies every stateChecksum (docs/domain.md hash tree)', async () => {
    registerLz4Codec();
    const kafka = new Kafka({ brokers: stackEnv().kafkaBrokers, logLevel: logLevel.NOTHING });
    const registry = new SchemaRegistry({ host: stackEnv().schemaRegistryUrl });
    const consumer = kafka.consumer({ groupId: uniqueName('verify') });
    type Wire = { version: number; stateChecksum: string; changeset: Array<{ path: string; op: string; newValue: string | null }> };
    const events: Wire[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: topicNames(prefix).events, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachMessage: async ({ message }) => {
            events.push(await registry.decode(message.value!));
            if (events.length === 3) resolve();
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    let state: unknown = {};
    for (const e of events) {
      state = applyPlain(state, e.changeset);
      expect(specHash(state), `version ${e.version}`).toBe(e.stateChecksum);
    }
  });

  it("Kafka's own console consumer reads the topic", async () => {
    const { stdout } = await run('bash', [
      kafkaScript,
      'console-consumer',
      '--bootstrap-server',
      stackEnv().kafkaBrokers.join(','),
      '--topic',
      topicNames(prefix).events,
      '--from-beginning',
      '--max-messages',
      '3',
      '--property',
      'print.key=true',
      '--timeout-ms',
      '20000',
    ]);
    const keys = stdout
      .trim()
      .split('\n')
      .map((l) => l.split('\t')[0]);
    expect(keys).toEqual(['interop-1', 'interop-1', 'interop-1']);
  });
});

/** The hash tree exactly as docs/domain.md specifies it, with nothing from src/: a second implementation on the wire's side. */
function specHash(v: unknown): string {
  const sha = (t: string) => createHash('sha256').update(t, 'utf8').digest('hex');
  const sorted = (o: object) => Object.keys(o).sort();
  const inline = (c: unknown): string => (typeof c === 'object' && c !== null ? '#' + specHash(c) : JSON.stringify(c));
  if (typeof v !== 'object' || v === null) return sha(JSON.stringify(v));
  if (Array.isArray(v)) return sha('[' + v.map(inline).join(',') + ']');
  const o = v as Record<string, unknown>;
  return sha(
    '{' +
      sorted(o)
        .map((k) => JSON.stringify(k) + ':' + inline(o[k]))
        .join(',') +
      '}',
  );
}

/** Applies a wire changeset (JSON Pointer paths, canonical JSON values) to a deep copy, the way a stock JSON Patch reader would. */
function applyPlain(doc: unknown, changes: Array<{ path: string; op: string; newValue: string | null }>): unknown {
  const root = { v: structuredClone(doc) as unknown };
  for (const c of changes) {
    const segs = c.path
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    let parent: any = root;
    let key: string | number = 'v';
    for (const s of segs) {
      parent = parent[key];
      key = Array.isArray(parent) ? (s === '-' ? parent.length : Number(s)) : s;
    }
    const value = c.newValue === null ? undefined : JSON.parse(c.newValue);
    if (Array.isArray(parent) && c.op === 'create') parent.splice(key as number, 0, value);
    else if (Array.isArray(parent) && c.op === 'delete') parent.splice(key as number, 1);
    else if (c.op === 'delete') delete parent[key];
    else parent[key] = value;
  }
  return root.v;
}
