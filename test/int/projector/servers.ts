import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { repoRoot } from '../../support/kill-child.js';

const run = promisify(execFile);

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * A server this test owns (a private redis-server or FerretDB on a random
 * port), so stopping it disturbs nobody else's tests. `stop` kills it;
 * `start` brings it back on the same port and data directory.
 */
export class OwnedServer {
  private child: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'agentstate-owned-'));

  private constructor(
    readonly port: number,
    private readonly command: (port: number, dir: string) => [string, string[]],
  ) {}

  static async redis(): Promise<OwnedServer> {
    const s = new OwnedServer(await freePort(), (port, dir) => ['redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no']]);
    await s.start();
    return s;
  }

  /** FerretDB (SQLite backend) built by scripts/stack. */
  static async ferret(): Promise<OwnedServer> {
    const { stdout } = await run('bash', [join(repoRoot, 'scripts', 'stack'), 'ferretdb-bin']);
    const bin = stdout.trim();
    const s = new OwnedServer(await freePort(), (port, dir) => [bin, ['-listen', `127.0.0.1:${port}`, '-sqlite-dir', dir]]);
    await s.start();
    return s;
  }

  /** versitygw (posix backend) built by scripts/stack, with the stack's credentials. */
  static async s3(): Promise<OwnedServer> {
    const stackDir = process.env.AGENTSTATE_STACK_DIR ?? join(homedir(), '.cache', 'agentstate', 'stack');
    const bin = join(stackDir, 'bin', 'versitygw-v1.8.0');
    const s = new OwnedServer(await freePort(), (port, dir) => [bin, ['--port', `127.0.0.1:${port}`, '--access', 'agentstate', '--secret', 'agentstate-secret', '--quiet', 'posix', dir]]);
    await s.start();
    return s;
  }

  async start(): Promise<void> {
    const [cmd, args] = this.command(this.port, this.dir);
    this.child = spawn(cmd, args, { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if (await reachable(this.port)) return;
      if (this.child.exitCode !== null) throw new Error(`${cmd} exited with ${this.child.exitCode}`);
      await sleep(100);
    }
    throw new Error(`${cmd} did not listen on ${this.port}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    import('node:net').then(
      ({ connect }) => {
        const sock = connect(port, '127.0.0.1');
        sock.once('connect', () => {
          sock.destroy();
          resolve(true);
        });
        sock.once('error', () => resolve(false));
      },
      () => resolve(false),
    );
  });
}
