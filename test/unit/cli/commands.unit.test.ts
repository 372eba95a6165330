import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/cli/args.js';
import { rollback } from '../../../src/cli/commands/admin.js';
import { history, inspect, stateAt } from '../../../src/cli/commands/inspect.js';
import { AgentStateClient, JsonEventCodec } from '../../../src/client/index.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import { topicSpecs } from '../../../src/log/topics.js';

/** CLI commands on the embedded profile, called in-process: input checks and what they write. */
describe('CLI commands (embedded)', () => {
  let dir: string;
  const lines: string[] = [];
  const out = (s: string): void => void lines.push(s);
  const run = (cmd: (argv: string[], out: (s: string) => void) => Promise<number>, ...argv: string[]) => cmd([...argv, '--data-dir', dir, '--backend', 'embedded', '--json'], out);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentstate-cli-'));
    const log = new SqliteEventLog({ path: join(dir, 'log.sqlite') });
    await log.setup(topicSpecs({ prefix: 'agentstate.', partitions: 4 }));
    const client = await AgentStateClient.connect({ log, codec: new JsonEventCodec(), bootstrap: false });
    await client.createAgent('a-1', { agentType: 'demo' });
    for (let i = 1; i <= 4; i++) await client.memoryUpdated('a-1', { step: i });
    await client.close();
    await log.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const lastJson = (): Record<string, unknown> => JSON.parse(lines.at(-1)!) as Record<string, unknown>;

  it('state --at refuses what is not a version or an ISO time, and a version past the head', async () => {
    await expect(run(stateAt, 'a-1', '--at', '3.5')).rejects.toThrow(/neither a whole version number nor an ISO 8601 time/);
    await expect(run(stateAt, 'a-1', '--at', 'hello 5')).rejects.toBeInstanceOf(UsageError);
    await expect(run(stateAt, 'a-1', '--at', '9')).rejects.toThrow(/is at version 5; --at 9 is past its head/);
    await expect(run(stateAt, 'a-1', '--at', '2999-01-01T00:00:00Z')).rejects.toThrow(/in the future/);
    expect(await run(stateAt, 'a-1', '--at', '3')).toBe(0);
    expect(lastJson()).toMatchObject({ version: 3, state: { memory: { step: 2 } } });
  });

  it('extra positional arguments are refused', async () => {
    await expect(run(inspect, 'a-1', 'extra')).rejects.toThrow(/unexpected argument "extra"/);
    await expect(run(rollback, 'a-1', '2', '3')).rejects.toThrow(/unexpected argument "3"/);
    await expect(run(history)).rejects.toThrow(/missing <instanceId>/);
  });

  it('a rollback to a version holding the current state writes nothing', async () => {
    expect(await run(rollback, 'a-1', '5')).toBe(0);
    expect(lastJson()).toMatchObject({ unchanged: true, headVersion: 5, newVersion: null });
    expect(await run(history, 'a-1')).toBe(0);
    expect((JSON.parse(lines.at(-1)!) as unknown[]).length).toBe(5);
    // A real rollback claims the agent (ownership_acquired) and appends state_rolled_back.
    expect(await run(rollback, 'a-1', '2')).toBe(0);
    expect(lastJson()).toMatchObject({ rolledBackTo: 2, newVersion: 7, sameAsTarget: true });
  });
});
