import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { statusReport } from '../../../src/cli/commands/status.js';
import { main } from '../../../src/cli/main.js';
import { openStoreOnly } from '../../../src/cli/store-only.js';
import { openEmbedded } from '../../../src/embedded.js';
import { openLog } from '../../../src/sdk/wiring.js';

/** Records every method called on `target` (by name), so a test can assert on what was read. */
function recording<T extends object>(target: T, calls: string[]): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const v = Reflect.get(t, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (v as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

async function cliJson(args: string[]): Promise<unknown> {
  const out: string[] = [];
  const w = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => (out.push(s), true)) as typeof process.stdout.write;
  try {
    expect(await main(args)).toBe(0);
  } finally {
    process.stdout.write = w;
  }
  return JSON.parse(out.join(''));
}

describe('agentstate status (embedded profile)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'as-status-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports from the store counts and the log offsets, never reading a record of history', async () => {
    const AGENTS = 3;
    const UPDATES = 4;
    const as = await openEmbedded({ dataDir: dir });
    try {
      for (let a = 0; a < AGENTS; a++) {
        const id = `status-${a}`;
        await as.client.createAgent(id, { agentType: 'worker' });
        for (let u = 0; u < UPDATES; u++) await as.client.updateState(id, [{ op: 'update', path: '/status', newValue: u % 2 ? 'running' : 'pending' }]);
        // The in-process projector has stored the last version: the store is complete.
        await as.manager.getCurrentState(id, { minVersion: UPDATES + 1 });
      }
    } finally {
      await as.close();
    }
    const logSide = await openLog({ kind: 'embedded', dataDir: dir, topicPrefix: 'agentstate.' });
    const store = await openStoreOnly('embedded', dir, {}, 'read the store');
    const logCalls: string[] = [];
    const storeCalls: string[] = [];
    try {
      const report = await statusReport({ ...logSide, log: recording(logSide.log, logCalls) }, recording(store!, storeCalls));
      const total = AGENTS * (UPDATES + 1);
      expect(report).toMatchObject({ backend: 'embedded', agents: AGENTS, projectedAgents: AGENTS, events: total, rejected: 0, maxVersion: UPDATES + 1, logRecords: total, pendingRecords: 0 });
      // Offsets and counts only: no read, consume or query of events, states or snapshots.
      expect(new Set(logCalls)).toEqual(new Set(['startOffsets', 'endOffsets', 'committedOffsets']));
      expect(new Set(storeCalls)).toEqual(new Set(['counts']));
    } finally {
      await store?.close();
      await logSide.close();
    }
    // The command prints the same report.
    expect(await cliJson(['status', '--json', '--backend', 'embedded', '--data-dir', dir])).toMatchObject({ agents: AGENTS, events: AGENTS * (UPDATES + 1), pendingRecords: 0 });
  });

  it('counts the records the projector has not consumed yet', async () => {
    const other = mkdtempSync(join(tmpdir(), 'as-status-pending-'));
    try {
      // No projector runs: the log has the events, the store has nothing yet.
      const as = await openEmbedded({ dataDir: other, projector: 'none' });
      try {
        await as.client.createAgent('pending-1', { agentType: 'worker' });
        await as.client.createAgent('pending-2', { agentType: 'worker' });
      } finally {
        await as.close();
      }
      const report = (await cliJson(['status', '--json', '--backend', 'embedded', '--data-dir', other])) as Record<string, unknown>;
      expect(report).toMatchObject({ agents: 0, events: 0, logRecords: 2, pendingRecords: 2, rejected: 0 });
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
