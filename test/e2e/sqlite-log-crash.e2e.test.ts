import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, runAndKill } from '../support/kill-child.js';
import { SqliteEventLog } from '../../src/log/sqlite/index.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The child: appends small batches forever and prints each acknowledged
 * record after `append` resolved. stdout to a pipe is synchronous on Linux,
 * so a printed line was written out before the next append starts.
 */
const CHILD = `
const { SqliteEventLog } = await import(${JSON.stringify(pathToFileURL(join(repoRoot, 'src/log/sqlite/index.ts')).href)});
const log = new SqliteEventLog({ path: process.env.LOG_PATH });
await log.setup([{ name: 'events', partitions: 4, compacted: false }]);
const run = process.env.RUN;
for (let seq = 0; ; seq++) {
  const records = Array.from({ length: 1 + (seq % 5) }, (_, i) => {
    const key = 'agent-' + ((seq * 7 + i) % 13);
    return { key, value: Buffer.from(run + ':' + seq + ':' + i), headers: { run } };
  });
  const acked = await log.append('events', records);
  const lines = acked.map((a, i) => JSON.stringify({ p: a.partition, o: a.offset, k: records[i].key, v: records[i].value.toString() }));
  process.stdout.write(lines.join('\\n') + '\\n');
}
`;

interface Ack {
  p: number;
  o: string;
  k: string;
  v: string;
}

describe('SqliteEventLog survives SIGKILL', () => {
  it('keeps every acknowledged append, with contiguous offsets, across repeated kills', async () => {
    const path = join(dir, 'crash.sqlite');
    const acked: Ack[] = [];
    for (const [i, minAcks] of [300, 150, 500].entries()) acked.push(...(await runAndKill<Ack>(CHILD, { LOG_PATH: path, RUN: `run${i}` }, minAcks)));

    const log = new SqliteEventLog({ path });
    try {
      const ends = await log.endOffsets('events');
      const stored = new Map<string, { key: string; value: string }>();
      for (const [p, end] of Object.entries(ends)) {
        const records = await log.read('events', Number(p), '0', end);
        // Contiguous: exactly the offsets 0 .. end-1, no gap, no duplicate.
        expect(records.map((r) => r.offset)).toEqual(Array.from({ length: Number(end) }, (_, i) => String(i)));
        for (const r of records) stored.set(`${p}:${r.offset}`, { key: r.key, value: r.value!.toString() });

        // Per key, a run's sequence numbers only grow (per-key order survives the crashes).
        const lastSeq = new Map<string, number>();
        for (const r of records) {
          const [run, seq] = r.value!.toString().split(':');
          const id = `${r.key}/${run}`;
          expect(Number(seq)).toBeGreaterThanOrEqual(lastSeq.get(id) ?? -1);
          lastSeq.set(id, Number(seq));
        }
      }
      // Every acknowledged record is there, at the position it was acknowledged with.
      for (const a of acked) expect(stored.get(`${a.p}:${a.o}`), `${a.p}:${a.o}`).toEqual({ key: a.k, value: a.v });
      // Later runs continued after earlier ones: no offset was handed out twice.
      expect(new Set(acked.map((a) => `${a.p}:${a.o}`)).size).toBe(acked.length);
    } finally {
      await log.close();
    }
  });
});

/** A child that runs a consumer of group `g` on topic `t` and prints "ready" once it handled a batch. */
const CONSUMER_CHILD = `
const { SqliteEventLog } = await import(${JSON.stringify(pathToFileURL(join(repoRoot, 'src/log/sqlite/index.ts')).href)});
const log = new SqliteEventLog({ path: process.env.LOG_PATH });
let said = false;
await log.consume({ group: 'g', topics: ['t'], handler: async () => {
  if (!said) { said = true; process.stdout.write('ready\\n'); }
} });
setInterval(() => undefined, 1000);
`;

describe('SqliteEventLog group membership across processes', () => {
  it('refuses a reset while another process consumes, and allows it as soon as that process is killed', async () => {
    const path = join(dir, 'members.sqlite');
    const log = new SqliteEventLog({ path });
    try {
      await log.setup([{ name: 't', partitions: 1, compacted: false }]);
      await log.append('t', [{ key: 'k', value: Buffer.from('v') }]);
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CONSUMER_CHILD], {
        cwd: repoRoot,
        env: { ...process.env, LOG_PATH: path },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise((res) => child.on('exit', res));
      try {
        await new Promise<void>((res, rej) => {
          createInterface({ input: child.stdout }).on('line', (l) => l === 'ready' && res());
          child.on('exit', () => rej(new Error('consumer child exited early')));
        });
        await expect(log.resetGroup('g', 't', { to: 'earliest' })).rejects.toMatchObject({ code: 'AS_CONFLICT' });
        await expect(log.consume({ group: 'g', topics: ['t'], handler: async () => undefined })).rejects.toMatchObject({ code: 'AS_CONFLICT' });
      } finally {
        child.kill('SIGKILL');
        await exited;
      }
      // The member's heartbeat row is still fresh, but its process is gone (same host): no wait for the session timeout.
      expect(await log.resetGroup('g', 't', { to: 'earliest' })).toEqual({ 0: '0' });
    } finally {
      await log.close();
    }
  });
});
