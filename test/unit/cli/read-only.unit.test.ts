import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backup } from '../../../src/cli/commands/backup.js';
import { SqliteDrillRecorder } from '../../../src/cli/commands/backup-drill.js';
import { history, inspect, stateAt } from '../../../src/cli/commands/inspect.js';
import { status } from '../../../src/cli/commands/status.js';
import { Keyring } from '../../../src/codec/keyring.js';
import { MasterKeySet } from '../../../src/codec/master-keys.js';
import { SqliteDataKeyStore } from '../../../src/store/sqlite/data-keys.js';
import { openEmbedded } from '../../../src/embedded.js';
import { openLog, openSinks } from '../../../src/sdk/wiring.js';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { archiveUntilCaughtUp } from '../backup/helpers.js';

const root = mkdtempSync(join(tmpdir(), 'agentstate-readonly-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const out = (): void => undefined;
const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

/** Issue 12 §3 and §7: read-only commands create nothing; what the embedded profile creates is private. */
describe('embedded data dir: read-only commands and file modes', () => {
  it.each([
    ['status', () => status(['--data-dir', join(root, 'missing'), '--backend', 'embedded'], out)],
    ['inspect', () => inspect(['a-1', '--data-dir', join(root, 'missing'), '--backend', 'embedded'], out)],
    ['history', () => history(['a-1', '--data-dir', join(root, 'missing'), '--backend', 'embedded'], out)],
    ['state', () => stateAt(['a-1', '--at', '1', '--data-dir', join(root, 'missing'), '--backend', 'embedded'], out)],
    ['backup status', () => backup(['status', '--data-dir', join(root, 'missing'), '--backend', 'embedded'], out)],
  ])('%s on a data dir that does not exist fails naming it and creates nothing', async (_name, run) => {
    await expect(run()).rejects.toMatchObject({ code: 'AS_NOT_FOUND', message: expect.stringContaining(join(root, 'missing')) as unknown });
    expect(existsSync(join(root, 'missing'))).toBe(false);
  });

  it('a read-only command on an existing data dir works and still creates no store', async () => {
    const dir = join(root, 'existing');
    const log = await openLog({ kind: 'embedded', dataDir: dir, topicPrefix: 'agentstate.' });
    await log.setupTopics();
    await log.close();
    expect(await status(['--data-dir', dir, '--backend', 'embedded'], out)).toBe(0);
    expect(existsSync(join(dir, 'store.sqlite'))).toBe(false);
    expect(existsSync(join(dir, 'blobs'))).toBe(false);
  });

  it('creates data dirs 0700 and databases, their WAL files and blobs 0600', async () => {
    const dir = join(root, 'modes', 'nested');
    const log = await openLog({ kind: 'embedded', dataDir: dir, topicPrefix: 'agentstate.' });
    await log.setupTopics();
    const masterKeys = MasterKeySet.parse(`k1:${Buffer.alloc(32, 7).toString('base64')}`);
    const sinks = await openSinks({ kind: 'embedded', dataDir: dir, masterKeys });
    try {
      await sinks.blobs.put('snapshots/a/1', Buffer.from('x'));
      await sinks.store.counts();
      expect(mode(join(root, 'modes'))).toBe('700');
      expect(mode(dir)).toBe('700');
      for (const f of ['log.sqlite', 'log.sqlite-wal', 'store.sqlite', 'store.sqlite-wal', 'keys.sqlite']) expect(`${f} ${mode(join(dir, f))}`).toBe(`${f} 600`);
      expect(mode(join(dir, 'blobs'))).toBe('700');
      expect(mode(join(dir, 'blobs', 'snapshots'))).toBe('700');
      expect(mode(join(dir, 'blobs', 'snapshots', 'a', '1'))).toBe('600');
    } finally {
      await sinks.close();
      await log.close();
    }
  });
});

/** Every entry under `dir` with its size and mtime: what a command that writes nothing leaves unchanged. */
function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => {
      const s = statSync(join(dir, name));
      return `${name} ${s.size} ${s.mtimeMs} ${(s.mode & 0o777).toString(8)}`;
    })
    .sort();
}

/**
 * Issue 12 §7: a data dir this user may not write (`chmod -R a-w`, or a
 * read-only mount) still answers the read-only commands. Root ignores file
 * modes, so as root the commands run as uid 65534 (setpriv) on a dir that
 * user owns and may not write; as any other user they run as that user.
 */
describe('embedded data dir that is read-only to the user', () => {
  // With master keys set (AGENTSTATE_MASTER_KEYS) the data dir holds keys.sqlite and the backup is encrypted:
  // verify --deep and restore need the keys, and opened them with the writable sinks ('attempt to write a readonly database').
  it.each([
    ['no master keys', undefined],
    ['master keys set, encrypted backup', `k1:${Buffer.alloc(32, 9).toString('base64')}`],
  ])('%s: status, inspect, history, state, list, doctor, backup status, backup verify --deep and restore (into another dir) work on it and write nothing into it', async (_case, keysEnv) => {
    const masterKeys = keysEnv === undefined ? undefined : MasterKeySet.parse(keysEnv);
    const base = mkdtempSync(join(tmpdir(), 'agentstate-rodir-'));
    try {
      chmodSync(base, 0o755);
      const dir = join(base, 'data');
      const as = await openEmbedded({ dataDir: dir, ...(masterKeys ? { masterKeys } : {}) });
      try {
        for (const id of ['ro-1', 'ro-2']) {
          await as.client.createAgent(id, { agentType: 'worker' });
          await as.client.updateState(id, [{ op: 'update', path: '/status', newValue: 'running' }]);
          await as.manager.getCurrentState(id, { minVersion: 2 });
        }
      } finally {
        await as.close();
      }
      // A backup of it, for backup verify --deep and restore (blobs/backup/ in the data dir).
      const source = await openLog({ kind: 'embedded', dataDir: dir, topicPrefix: 'agentstate.' });
      try {
        const keys = masterKeys ? new SqliteDataKeyStore({ path: join(dir, 'keys.sqlite') }) : undefined;
        await keys?.setup();
        const keyring = masterKeys && keys ? { keyring: new Keyring({ masterKeys, store: keys }) } : {};
        await archiveUntilCaughtUp({ log: source.log, blobs: new FsBlobStore({ dir: join(dir, 'blobs') }), codec: source.codec, topicPrefix: source.prefix, ...keyring });
        await keys?.close();
      } finally {
        await source.close();
      }
      if (masterKeys) expect(existsSync(join(dir, 'keys.sqlite'))).toBe(true);
      // The restore's target: a separate dir the user may write.
      const targetParent = join(base, 'target');
      mkdirSync(targetParent);
      const target = join(targetParent, 'restored');
      const drills = new SqliteDrillRecorder(dir);
      const at = Date.now();
      await drills.record({
        drillId: 'drill-ro',
        startedAt: at,
        finishedAt: at + 1000,
        ok: true,
        target: join(dir, '.drills', 'drill-ro'),
        rpoSeconds: 0,
        latestArchivedAt: at,
        restoreSeconds: 1,
        records: 4,
        agents: 2,
        mismatched: 0,
        error: null,
        cleanedUp: true,
      });
      await drills.close();
      // A writer still has the log open: its last commit is only in log.sqlite-wal, which the readers must see.
      const writer = await openEmbedded({ dataDir: dir, projector: 'none' });
      await writer.client.createAgent('ro-3', { agentType: 'worker' });
      expect(existsSync(join(dir, 'log.sqlite-wal'))).toBe(true);
      const asRoot = process.getuid?.() === 0;
      if (asRoot) execFileSync('chown', ['-R', '65534:65534', dir, targetParent]);
      execFileSync('chmod', ['-R', 'a-w', dir]);
      const before = tree(dir);

      const script = join(base, 'run.mts');
      writeFileSync(
        script,
        `import { main } from ${JSON.stringify(join(process.cwd(), 'src/cli/main.ts'))};
const dir = ${JSON.stringify(dir)};
const runs = { status: ['status', '--json'], inspect: ['inspect', 'ro-1'], history: ['history', 'ro-3'], state: ['state', 'ro-1', '--at', '1'], list: ['list', '--json'], doctor: ['doctor'], backupStatus: ['backup', 'status'], verifyDeep: ['backup', 'verify', '--deep'], restore: ['restore', '--to', 'latest', '--target-data-dir', ${JSON.stringify(target)}] };
const results = {};
const write = process.stdout.write.bind(process.stdout);
for (const [name, args] of Object.entries(runs)) {
  const out = [];
  process.stdout.write = (s) => (out.push(String(s)), true);
  process.stderr.write = (s) => (out.push(String(s)), true);
  results[name] = { code: await main([...args, '--backend', 'embedded', '--data-dir', dir]).catch((e) => String(e)), out: out.join('') };
}
process.stdout.write = write;
process.stdout.write(JSON.stringify(results));
`,
      );
      chmodSync(script, 0o644);
      // This very Node (20 or 24, whichever runs the suite) with tsx's CLI: never a `node` found on PATH, whose ABI may not match the addons.
      const run = [process.execPath, join(process.cwd(), 'node_modules', 'tsx', 'dist', 'cli.mjs'), script];
      const [cmd, ...args] = asRoot ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...run] : run;
      if (asRoot) {
        const reach = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(run[1])})`], { encoding: 'utf8' });
        expect(reach.status, `uid 65534 must reach ${process.execPath} and ${run[1]} (every directory above them needs o+x): ${reach.stderr}`).toBe(0);
      }
      let stdout: string;
      try {
        stdout = execFileSync(cmd!, args, { cwd: base, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: base, TMPDIR: tmpdir(), ...(keysEnv ? { AGENTSTATE_MASTER_KEYS: keysEnv } : {}) } });
        expect(tree(dir)).toEqual(before);
      } finally {
        await writer.close();
      }
      const results = JSON.parse(stdout) as Record<string, { code: number | string; out: string }>;

      for (const [name, r] of Object.entries(results)) expect(`${name}: ${r.code}`, r.out).toBe(`${name}: 0`);
      expect(JSON.parse(results.status!.out)).toMatchObject({ agents: 2, projectedAgents: 2, events: 4, logRecords: 5 });
      expect(results.inspect!.out).toContain('ro-1');
      expect(results.inspect!.out).toContain('running');
      expect(results.history!.out).toMatch(/^\s+1 .* instance_created /);
      expect(results.state!.out).toContain('ro-1');
      expect(results.backupStatus!.out).toContain('last successful drill: ok drill drill-ro');
      expect(results.verifyDeep!.out).toMatch(/deep: 2 agents folded, 2 match the store/);
      expect(results.restore!.out).toMatch(/2 agents/);
      expect(existsSync(join(target, 'log.sqlite'))).toBe(true);
      expect((JSON.parse(results.list!.out) as { agents: Array<{ instanceId: string }> }).agents.map((a) => a.instanceId)).toEqual(['ro-1', 'ro-2']);
      // Nothing created, changed or re-moded in the data dir (checked above, before the writer closed); the private copies are gone.
      expect(readdirSync(tmpdir()).filter((n) => n.startsWith('agentstate-ro-'))).toEqual([]);
    } finally {
      execFileSync('chmod', ['-R', 'u+w', base]);
      rmSync(base, { recursive: true, force: true });
    }
  });
});
