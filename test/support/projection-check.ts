import { spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'vitest';
import type { BlobStore } from '../../src/blob/port.js';
import type { EventCodec } from '../../src/codec/event-codec.js';
import { fold, type StateEvent } from '../../src/domain/index.js';
import type { EventLog } from '../../src/log/port.js';
import { decodeState } from '../../src/codec/state-body.js';
import type { StateStore } from '../../src/store/port.js';
import { stateOfRow } from '../../src/store/state-fields.js';

/** Every record of `topic`, decoded, grouped by agent in log order. */
export async function eventsByAgent(log: EventLog, codec: EventCodec, topic: string): Promise<Map<string, StateEvent[]>> {
  const perAgent = new Map<string, StateEvent[]>();
  const [start, end] = await Promise.all([log.startOffsets(topic), log.endOffsets(topic)]);
  for (const [p, until] of Object.entries(end)) {
    for (const r of await log.read(topic, Number(p), start[Number(p)] ?? '0', until)) {
      if (r.value === null) continue;
      const list = perAgent.get(r.key) ?? [];
      list.push(await codec.decode(r.value));
      perAgent.set(r.key, list);
    }
  }
  return perAgent;
}

/**
 * The store holds, for every agent of `perAgent`, exactly the fold of its log
 * (version, checksum, state), and the event mirror holds each version once:
 * nothing lost, nothing applied twice (DESIGN.md Invariants 2 and 4).
 */
export async function expectStoreEqualsFold(
  store: StateStore,
  blobs: BlobStore,
  perAgent: Map<string, StateEvent[]>,
  /** Rejected records the caller accepts (e.g. never acknowledged to a writer); by default none. */
  mayReject: (event: StateEvent) => boolean = () => false,
): Promise<void> {
  const ids = [...perAgent.keys()];
  const rows = await store.getStates(ids);
  for (const id of ids) {
    const expected = fold(perAgent.get(id)!);
    expect(
      expected.rejected.filter((r) => !mayReject(r.event)),
      id,
    ).toEqual([]);
    const row = rows.get(id);
    expect(row, `${id} missing from the store`).toBeDefined();
    const state = stateOfRow(row!, await decodeState(row!.encoding, row!.body ?? (await blobs.get(row!.blobKey!))!));
    expect({ version: row!.version, checksum: row!.checksum, state }, id).toEqual({
      version: expected.projection!.version,
      checksum: expected.projection!.checksum,
      state: expected.projection!.state,
    });
    const versions = (await store.queryEvents({ instanceId: id })).map((e) => e.version);
    expect(versions, `${id} mirror`).toEqual(Array.from({ length: row!.version }, (_, i) => i + 1));
  }
}

export interface ProjectorProcess {
  child: ChildProcess;
  exit: Promise<number | null>;
  output: () => string;
}

/** `services/projector/main.ts` as a child process with `env` on top of this one's. */
export function spawnProjector(env: Record<string, string>, args: string[] = []): ProjectorProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/projector/main.ts', ...args], {
    env: { ...process.env, METRICS_PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => void (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => void (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exit, output: () => out.slice(-4000) };
}
