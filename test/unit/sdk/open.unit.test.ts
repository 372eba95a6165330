import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, checksum, openAgentState, type SubscribedState } from '../../../src/index.js';
import { openEmbedded, SqliteEventLog } from '../../../src/embedded.js';

/** openAgentState on the embedded profile: no servers, a temp data dir per test. */
const dirs: string[] = [];
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'agentstate-sdk-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('openAgentState, embedded', () => {
  it('wires client, manager (rollback through the client) and an in-process projector; close is idempotent', async () => {
    const as = await openAgentState({ env: false, dataDir: newDir() });
    expect(as.profile).toBe('embedded');
    expect(as.projector).toBe('in-process');
    await as.client.createAgent('a-1', { agentType: 'researcher' });
    await as.client.memoryUpdated('a-1', { notes: 'one' });
    const { newVersion } = await as.client.memoryUpdated('a-1', { notes: 'two' });
    const view = await as.manager.getCurrentState('a-1', { minVersion: newVersion });
    expect(view?.state.memory).toEqual({ notes: 'two' });
    expect(view?.checksum).toBe(checksum(view?.state));
    const rolled = await as.manager.rollbackToVersion('a-1', 2);
    const after = await as.manager.getCurrentState('a-1', { minVersion: rolled.newVersion });
    expect(after?.state.memory).toEqual({ notes: 'one' });
    expect((await as.manager.getVersionHistory('a-1')).map((v) => v.version)).toEqual([1, 2, 3, 4]);
    const closing = as.close();
    expect(as.close()).toBe(closing);
    await closing;
  });

  it('a subscriber with a group resumes after what it took; one without reads from the start', async () => {
    const dataDir = newDir();
    const as = await openAgentState({ env: false, dataDir });
    for (const id of ['s-1', 's-2', 's-3']) await as.client.createAgent(id, { agentType: 't' });
    await as.manager.getCurrentState('s-3', { minVersion: 1 });
    const take = async (n: number, group?: string): Promise<SubscribedState[]> => {
      const got: SubscribedState[] = [];
      const stop = new AbortController();
      for await (const s of as.subscribe({ signal: stop.signal, ...(group ? { group } : {}) })) {
        got.push(s);
        if (got.length === n) stop.abort();
      }
      return got;
    };
    expect((await take(3)).map((s) => s.instanceId).sort()).toEqual(['s-1', 's-2', 's-3']);
    const first = await take(3, 'downstream');
    expect(first.every((s) => s.version === 1 && s.checksum === checksum(s.state))).toBe(true);
    // The group took all three: a new state is the next thing it sees.
    const { newVersion } = await as.client.statusChanged('s-2', 'paused');
    const next = await take(1, 'downstream');
    expect(next.map((s) => [s.instanceId, s.version])).toEqual([['s-2', newVersion]]);
    expect(next[0]!.state.status).toBe('paused');
    // The handler form: a promise that settles when the signal stops it.
    const stop = new AbortController();
    const seen: string[] = [];
    await as.subscribe({
      signal: stop.signal,
      onState: (s) => {
        seen.push(`${s.instanceId}@${s.version}`);
        if (seen.length === 4) stop.abort();
      },
    });
    expect(seen).toContain(`s-2@${newVersion}`);
    await as.close();
  });

  it('resolves claim-checked states (larger than 512 KiB) through the blob store, checksum verified', async () => {
    const dataDir = newDir();
    const as = await openAgentState({ env: false, dataDir });
    await as.client.createAgent('big-1', { agentType: 't' });
    const big = randomBytes(450 * 1024).toString('base64'); // ~600 KB of JSON
    const { newVersion } = await as.client.memoryUpdated('big-1', { big });
    const stop = new AbortController();
    let seen: SubscribedState | undefined;
    for await (const s of as.subscribe({ signal: stop.signal })) {
      if (s.version === newVersion) {
        seen = s;
        stop.abort();
      }
    }
    expect(seen?.state.memory['big']).toBe(big);
    expect(seen?.checksum).toBe(checksum(seen?.state));
    // It really went through the claim check: the state-topic record holds a pointer, not the state.
    await as.close();
    const log = new SqliteEventLog({ path: join(dataDir, 'log.sqlite') });
    const values: string[] = [];
    for (const [p, end] of Object.entries(await log.endOffsets('agentstate.state'))) {
      for (const r of await log.read('agentstate.state', Number(p), '0', end)) if (r.key === 'big-1') values.push(r.value!.toString('utf8'));
    }
    await log.close();
    const last = JSON.parse(values.at(-1)!) as { version: number; claimCheck?: unknown; state?: unknown };
    expect(last.version).toBe(newVersion);
    expect(last.claimCheck).toBeDefined();
    expect(last.state).toBeUndefined();
  });

  it('openEmbedded ignores server variables; auto with half of them is a ConfigError naming what is missing', async () => {
    const half = { KAFKA_BROKERS: '127.0.0.1:19092', MONGODB_URI: 'mongodb://127.0.0.1:27117/' };
    await expect(openAgentState({ env: half, dataDir: newDir() })).rejects.toThrow(/S3_ENDPOINT, S3_BUCKET: missing/);
    const as = await openEmbedded({ env: half, dataDir: newDir() });
    expect(as.profile).toBe('embedded');
    await as.close();
  });

  it('bad options name the option', async () => {
    await expect(openAgentState({ env: false, projector: 'sometimes' as never })).rejects.toThrow(/projector: "sometimes"/);
    await expect(openAgentState({ env: { AGENTSTATE_PROJECTOR: 'x' } })).rejects.toThrow(/AGENTSTATE_PROJECTOR: "x"/);
    await expect(openAgentState({ env: false, servers: { kafka: { brokers: ['nope'] }, mongo: { uri: 'mongodb://m/' }, s3: { endpoint: 'http://s3', bucket: 'b' } } })).rejects.toThrow(
      /servers\.kafka\.brokers: "nope" is not host:port/,
    );
    await expect(openAgentState({ env: false, servers: { kafka: { brokers: ['k:1'] } } as never })).rejects.toBeInstanceOf(ConfigError);
  });
});
