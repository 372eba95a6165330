import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

/** Where benchmark results go: bench/results/. */
export const RESULTS_DIR = join(import.meta.dirname, '..', 'results');

/** The machine a result was measured on, so numbers are never compared blind. */
export function machine(): Record<string, string | number> {
  const cpu = cpus();
  return { node: process.version, platform: `${process.platform}-${process.arch}`, cpu: cpu[0]?.model ?? 'unknown', cores: cpu.length, memoryGB: Math.round(totalmem() / 2 ** 30) };
}

/** Writes `bench/results/<name>-<timestamp>.json` and returns its path. */
export function writeResults(name: string, data: Record<string, unknown>): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const at = new Date().toISOString();
  const file = join(RESULTS_DIR, `${name}-${at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ bench: name, at, machine: machine(), ...data }, null, 2) + '\n');
  return file;
}
