import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { expect } from 'vitest';

export const repoRoot = resolve(import.meta.dirname, '../..');

/**
 * Runs `script` (an ES module, run through tsx) in a child process that
 * prints one JSON line per acknowledged write, and SIGKILLs it in the middle
 * of its stream of writes once at least `minAcks` lines have come. Returns
 * every acknowledgement, including lines already in the pipe at the kill:
 * stdout to a pipe is synchronous on Linux, so a printed line was out before
 * the child's next write started.
 */
export async function runAndKill<Ack>(script: string, env: Record<string, string>, minAcks: number): Promise<Ack[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => res(signal)));
  const acks: Ack[] = [];
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    acks.push(JSON.parse(line) as Ack);
    if (acks.length >= minAcks && child.exitCode === null && !child.killed) child.kill('SIGKILL');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const signal = await exited;
  clearTimeout(timer);
  await new Promise<void>((res) => (lines.once('close', res), setTimeout(res, 1000)));
  expect(signal, `child did not die by SIGKILL; stderr:\n${stderr}`).toBe('SIGKILL');
  expect(acks.length, `child acknowledged too little; stderr:\n${stderr}`).toBeGreaterThanOrEqual(minAcks);
  return acks;
}
