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
 * What a writer was told is in the log: every acknowledged event is in it and
 * the fold of its agent's records accepts it exactly once. A record may be in
 * the log more than once: an idempotent producer's dedup lives in one producer
 * session and does not cover every leader change (kafkajs re-sent a batch the
 * killed leader had already replicated, seen once in 3-broker failover; the
 * same holds for librdkafka). Every copy must then be the same event, and the
 * fold rejects each later copy as a `duplicate` (DESIGN.md Invariants 1 and 4),
 * so nothing is applied twice. Returns the events the log holds more than once.
 */
export function expectAckedAppliedOnce(perAgent: Map<string, StateEvent[]>, acked: StateEvent[]): StateEvent[][] {
  const copies = new Map<string, StateEvent[]>();
  for (const list of perAgent.values()) for (const e of list) copies.set(e.eventId, [...(copies.get(e.eventId) ?? []), e]);
  const doubled = [...copies.values()].filter((c) => c.length > 1);
  for (const c of doubled) for (const copy of c.slice(1)) expect(copy, `a copy of ${c[0]!.eventId} that differs from it`).toEqual(c[0]);
  const rejections = new Map<string, string[]>();
  for (const list of perAgent.values()) for (const r of fold(list).rejected) rejections.set(r.event.eventId, [...(rejections.get(r.event.eventId) ?? []), r.reason]);
  const wrong = acked
    .map((e) => ({ eventId: e.eventId, copies: copies.get(e.eventId)?.length ?? 0, rejected: rejections.get(e.eventId) ?? [] }))
    .filter((a) => a.copies === 0 || a.rejected.length !== a.copies - 1 || a.rejected.some((r) => r !== 'duplicate'));
  expect(wrong, 'acknowledged events missing from the log or not applied exactly once').toEqual([]);
  return doubled;
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
