import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { stateRow } from '../../contract/store/suite.js';

/** Runs the CLI in-process, capturing stdout and stderr. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const w1 = process.stdout.write.bind(process.stdout);
  const w2 = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => (out.push(s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => (err.push(s), true)) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    process.stdout.write = w1;
    process.stderr.write = w2;
  }
}

describe('agentstate list (embedded profile)', () => {
  let dir: string;
  const base = (extra: string[]): string[] => ['list', '--backend', 'embedded', '--data-dir', dir, ...extra];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'as-list-'));
    const store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
    await store.setup();
    const mk = (id: string, status: string, caps: string[], agentType = 'worker') => stateRow(id, 2, { status, agentType, fields: { status, agentType, capabilities: caps } });
    await store.writeBatch({
      states: [mk('agent-1', 'error', ['web-search']), mk('agent-2', 'running', ['code']), mk('agent-3', 'error', ['code'], 'planner')],
      events: [],
    });
    await store.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists agents with --status error, as a table and as JSON', async () => {
    const table = await cli(base(['--status', 'error']));
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^INSTANCE\s+TYPE\s+STATUS/);
    expect(table.out).toContain('agent-1');
    expect(table.out).toContain('agent-3');
    expect(table.out).not.toContain('agent-2');
    const json = await cli(base(['--status', 'error', '--capability', 'code', '--json']));
    expect(JSON.parse(json.out)).toMatchObject({ agents: [{ instanceId: 'agent-3', agentType: 'planner', status: 'error', version: 2 }], nextCursor: null });
    const typed = JSON.parse((await cli(base(['--agent-type', 'worker', '--json']))).out) as { agents: Array<{ instanceId: string }> };
    expect(typed.agents.map((a) => a.instanceId)).toEqual(['agent-1', 'agent-2']);
    // Only the store was read: the log (and its history) was never opened, not even created.
    expect(existsSync(join(dir, 'log.sqlite'))).toBe(false);
  });

  it('pages with --limit and --cursor', async () => {
    const first = JSON.parse((await cli(base(['--limit', '2', '--json']))).out) as { agents: Array<{ instanceId: string }>; nextCursor: string };
    expect(first.agents.map((a) => a.instanceId)).toEqual(['agent-1', 'agent-2']);
    const second = JSON.parse((await cli(base(['--limit', '2', '--json', '--cursor', first.nextCursor]))).out) as { agents: Array<{ instanceId: string }>; nextCursor: null };
    expect(second).toEqual({ agents: [expect.objectContaining({ instanceId: 'agent-3' })], nextCursor: null });
  });

  it('has --help, and fails with one clear line on bad input', async () => {
    const h = await cli(['list', '--help']);
    expect(h.code).toBe(0);
    expect(h.out).toContain('--capability C');
    expect(h.out).toContain('--agent-type T');
    const bad = await cli(base(['--limit', 'x']));
    expect(bad.code).toBe(2);
    expect(bad.err.trim()).toBe('agentstate list: --limit: "x" is not a positive whole number');
    expect((await cli(base(['--limit', '5000']))).err).toContain('--limit: at most 1000');
    expect((await cli(base(['--bogus']))).code).toBe(2);
    const cursor = await cli(base(['--cursor', 'zzz']));
    expect(cursor.code).toBe(1);
    expect(cursor.err).toContain('AS_INVALID_INPUT');
    const saved = process.env.MONGODB_URI;
    delete process.env.MONGODB_URI;
    try {
      const servers = await cli(['list', '--backend', 'servers']);
      expect(servers.code).toBe(2);
      expect(servers.err).toContain('needs MONGODB_URI');
    } finally {
      if (saved !== undefined) process.env.MONGODB_URI = saved;
    }
  });

  it('prints an empty list when nothing was projected yet, without creating a store', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'as-list-empty-'));
    try {
      const r = await cli(['list', '--backend', 'embedded', '--data-dir', empty, '--json']);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toEqual({ agents: [], nextCursor: null });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
