import { createWriteStream } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '../support/kill-child.js';

/** A child process whose stdout lines are collected (runtime hosts print `ack`, `fenced`, `ready` lines). */
export interface Proc {
  name: string;
  child: ChildProcess;
  lines: string[];
  output: () => string;
  /** Settles when the process exited and its stdout lines are all read (readline lags 'exit'). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function track(name: string, child: ChildProcess): Proc {
  const lines: string[] = [];
  let all = '';
  const rl = createInterface({ input: child.stdout! });
  rl.on('line', (l) => lines.push(l));
  const closed = new Promise<void>((res) => rl.once('close', res));
  const dbg = process.env.E2E_DEBUG_DIR ? createWriteStream(`${process.env.E2E_DEBUG_DIR}/${name}.${child.pid}.log`) : undefined;
  child.stdout!.on('data', (d: Buffer) => {
    all += d.toString();
    dbg?.write(d);
  });
  child.stderr!.on('data', (d: Buffer) => {
    all += d.toString();
    dbg?.write(d);
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  const exited = exit.then(async (r) => (await Promise.race([closed, sleep(2000)]), r));
  return { name, child, lines, output: () => all.slice(-4000), exited };
}

/** `agentstate runtime` as its own process (bin/agentstate.js: dist when built, else the sources through tsx). */
export function startRuntime(nodeId: string, agents: string[], env: Record<string, string>, extra: string[] = []): Proc {
  const args = [join(repoRoot, 'bin/agentstate.js'), 'runtime', '--node-id', nodeId, '--agents', agents.join(','), '--create', 'counter', '--print-acks', '--step-ms', '100', ...extra];
  return track(nodeId, spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** services/recovery as its own process. */
export function startRecovery(instance: string, env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'services/recovery/main.ts')], {
    cwd: repoRoot,
    env: { ...process.env, ...env, RECOVERY_INSTANCE: instance, METRICS_PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return track(instance, child);
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, diagnostics: () => string = () => ''): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${diagnostics()}`);
    await sleep(25);
  }
  return Date.now() - start;
}

/** Acknowledged counts per agent in a host's output: `ack <id> <count> <version>`. */
export function acks(p: Proc): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const l of p.lines) {
    const m = /^ack (\S+) (\d+) (\d+)$/.exec(l);
    if (!m) continue;
    const list = out.get(m[1]!) ?? [];
    list.push(Number(m[2]));
    out.set(m[1]!, list);
  }
  return out;
}

export async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
  await p.exited;
  clearTimeout(t);
}
