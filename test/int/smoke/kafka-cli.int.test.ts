import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin } from 'kafkajs';
import { createKafka } from '../../../src/log/kafka/index.js';
import { stackEnv, uniqueName } from '../../support/env.js';

const run = promisify(execFile);
const script = join(import.meta.dirname, '..', '..', '..', 'scripts', 'kafka');

describe("scripts/kafka runs Kafka's own CLI against the stack", () => {
  let admin: Admin;
  beforeAll(async () => {
    admin = createKafka({ brokers: stackEnv().kafkaBrokers }).admin();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.disconnect();
  });

  it('creates a topic that kafkajs then sees, and lists it', async () => {
    const topic = uniqueName('smoke-cli');
    const brokers = stackEnv().kafkaBrokers.join(',');
    const created = await run('bash', [script, 'topics', '--bootstrap-server', brokers, '--create', '--topic', topic, '--partitions', '3', '--config', 'cleanup.policy=compact']);
    expect(created.stdout).toContain(`Created topic ${topic}`);
    const listed = await run('bash', [script, 'topics', '--bootstrap-server', brokers, '--list']);
    expect(listed.stdout.split('\n')).toContain(topic);
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(meta.topics[0]?.partitions).toHaveLength(3);
    const configs = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: topic, configNames: ['cleanup.policy'] }] });
    expect(configs.resources[0]?.configEntries[0]?.configValue).toBe('compact');
  });
});
