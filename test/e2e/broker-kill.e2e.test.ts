import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStateClient, JsonEventCodec } from '../../src/client/index.js';
import type { StateEvent } from '../../src/domain/index.js';
import { KafkaEventLog } from '../../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../../src/log/topics.js';
import { uniqueName } from '../support/env.js';
import { eventsByAgent, expectAckedAppliedOnce } from '../support/projection-check.js';

const run = promisify(execFile);
const stack = join(import.meta.dirname, '..', '..', 'scripts', 'stack');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const started = Date.now();
const note = (line: string) => process.stderr.write(`[broker-kill +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);

/**
 * A private Kafka (its own stack instance and port), so killing it disturbs no
 * other test: kill -9 mid-stream, restart, and check that every acknowledged
 * update is in the log exactly once and applied.
 */
describe('Kafka broker killed with SIGKILL mid-stream', () => {
  const instance = uniqueName('kill');
  // Below Linux's ephemeral range (32768-60999): the broker restarts on this port, and an outgoing
  // connection had taken it as its source port once (CI: 'Address already in use' on the restart).
  const port = 30_000 + 2 * Math.floor(Math.random() * 600);
  const env = { ...process.env, AGENTSTATE_STACK_INSTANCE: instance, AGENTSTATE_STACK_KAFKA_PORT: String(port) };
  const stackDir = process.env.AGENTSTATE_STACK_DIR ?? join(homedir(), '.cache', 'agentstate', 'stack');
  const pidFile = join(stackDir, 'instances', instance, 'run', 'kafka-1.pid');
  let log: KafkaEventLog;

  beforeAll(async () => {
    await run('bash', [stack, 'up', '--only', 'kafka'], { env, timeout: 600_000 });
    log = new KafkaEventLog({ brokers: [`127.0.0.1:${port}`] });
  });
  afterAll(async () => {
    await log?.close();
    await run('bash', [stack, 'down'], { env }).catch(() => undefined);
    rmSync(join(stackDir, 'instances', instance), { recursive: true, force: true });
  });

  it('keeps every acknowledged update exactly once', async () => {
    const prefix = 'kill.';
    await log.setup(topicSpecs({ prefix, partitions: 3 }));
    const codec = new JsonEventCodec();
    const client = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, decisionTimeoutMs: 20_000, logger: pino({ level: 'warn' }, pino.destination(2)) });
    const ids = Array.from({ length: 20 }, (_, i) => `k-${i}`);
    await Promise.all(ids.map((id) => client.createAgent(id, { agentType: 'worker' })));
    const acked: StateEvent[] = [];
    const errors: string[] = [];
    let stop = false;
    const writers = ids.map(async (id) => {
      let n = 0;
      while (!stop) {
        try {
          const r = await client.updateState(id, (d) => void (d.memory[`n${n++}`] = Date.now()));
          acked.push(...r.generatedEvents);
        } catch (err) {
          errors.push((err as Error).message);
          note(`writer ${id}: ${(err as Error).message}`);
          await sleep(200);
        }
      }
    });
    // Kill under load: once 50 updates are acknowledged, however long that takes on this machine.
    for (let i = 0; acked.length < 50; i++) {
      expect(i, 'fewer than 50 acknowledged updates in 60 s before the kill').toBeLessThan(600);
      await sleep(100);
    }
    const before = acked.length;
    const pid = Number(readFileSync(pidFile, 'utf8').split(' ')[0]);
    process.kill(pid, 'SIGKILL');
    note(`killed broker pid ${pid} after ${before} acknowledged updates`);
    await sleep(2000);
    await run('bash', [stack, 'up', '--only', 'kafka'], { env, timeout: 300_000 });
    note('broker restarted');
    // Keep writing until the writers have clearly recovered: 200 more acknowledged updates, however
    // long a loaded machine takes (up to 4 minutes; once 80 in 60 s here at a load average above 20).
    const resumeFrom = acked.length;
    for (let i = 0; i < 480 && acked.length < resumeFrom + 200; i++) await sleep(500);
    stop = true;
    note(`stopping writers at ${acked.length} acknowledged updates (${acked.length - resumeFrom} after the restart)`);
    await Promise.all(writers);
    await client.close();
    expect(before).toBeGreaterThanOrEqual(50);
    expect(acked.length - resumeFrom, 'acknowledged updates after the broker restart, within 4 minutes').toBeGreaterThanOrEqual(200);

    // Every acknowledged update is in the log and applied once by the fold (a copy re-sent across the restart is rejected as a duplicate).
    const doubled = expectAckedAppliedOnce(await eventsByAgent(log, codec, topicNames(prefix).events), acked);
    note(`${doubled.length} records in the log twice after the restart`);
  });
});
