import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { SqliteEventLog } from '../../../src/log/sqlite/index.js';
import type { TopicSpec } from '../../../src/log/port.js';
import { AgentStateClient, JsonEventCodec, type EventCodec } from '../../../src/client/index.js';
import { BackupArchiver, type ArchiverOptions } from '../../../src/backup/index.js';
import type { BlobStore } from '../../../src/blob/port.js';
import type { EventLog } from '../../../src/log/port.js';
import { topicNames } from '../../../src/log/topics.js';
import { SqliteStateStore } from '../../../src/store/sqlite/index.js';
import { listManifestVersions, openManifest, openSegment } from '../../../src/backup/index.js';

export const codec = new JsonEventCodec();

/** A source data dir in `dir`: its SQLite log with `specs` set up, and its blob store (snapshot bodies and the backup) ready. */
export async function openSourceDir(dir: string, specs: TopicSpec[]): Promise<{ log: SqliteEventLog; blobs: FsBlobStore }> {
  mkdirSync(dir, { recursive: true });
  const log = new SqliteEventLog({ path: join(dir, 'log.sqlite'), pollIntervalMs: 10 });
  await log.setup(specs);
  const blobs = new FsBlobStore({ dir: join(dir, 'blobs'), fsync: false });
  await blobs.setup();
  return { log, blobs };
}

/** Writes `rounds` updates to each of `ids` (after creating them); returns nothing, the log holds it. */
export async function writeAgents(log: EventLog, prefix: string, ids: string[], rounds: number, tag = 'r', create = true, eventCodec: EventCodec = codec): Promise<void> {
  const writer = await AgentStateClient.connect({ log, codec: eventCodec, topicPrefix: prefix, bootstrap: false });
  try {
    // A later phase takes ownership again (a new writer, epoch + 1), as a restarted runtime would.
    await Promise.all(ids.map((id) => (create ? writer.createAgent(id, { agentType: 'worker' }) : writer.acquire(id))));
    for (let n = 0; n < rounds; n++) await Promise.all(ids.map((id) => writer.updateState(id, (d) => void (d.memory[`${tag}${n}`] = `${id} round ${n} ${'x'.repeat(n * 7)}`))));
  } finally {
    await writer.close();
  }
}

/** Runs an archiver until every partition's lag is 0, then stops it (which closes the open segments). */
export async function archiveUntilCaughtUp(options: ArchiverOptions, timeoutMs = 20_000): Promise<BackupArchiver> {
  const archiver = new BackupArchiver({ tickMs: 20, segmentMaxAgeMs: 50, restartDelayMs: 20, ...options });
  const stop = new AbortController();
  const running = archiver.run(stop.signal);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      await sleep(50);
      const lag = await archiver.lag();
      if (lag.every((l) => l.records === '0')) break;
      if (Date.now() > deadline) throw new Error(`archiver did not catch up: ${JSON.stringify(lag)}`);
    }
  } finally {
    stop.abort();
    await running;
  }
  return archiver;
}

/**
 * Every offset of every partition from the log start to the end is in
 * exactly one manifest-named segment, and each segment's records equal the
 * log's byte for byte. Returns the segment count.
 */
export async function expectExactCoverage(log: EventLog, blobs: BlobStore, prefix: string): Promise<number> {
  const topic = topicNames(prefix).events;
  const [ends, starts] = await Promise.all([log.endOffsets(topic), log.startOffsets(topic)]);
  let segments = 0;
  for (const [p, end] of Object.entries(ends)) {
    let next = BigInt(starts[Number(p)] ?? '0');
    for (const v of await listManifestVersions(blobs, Number(p))) {
      const m = await openManifest((await blobs.get(v.key))!, v.key);
      if (BigInt(m.segment.firstOffset) !== next) {
        const chain = [];
        for (const w of await listManifestVersions(blobs, Number(p))) {
          const x = await openManifest((await blobs.get(w.key))!, w.key);
          chain.push(`v${x.version} ${x.segment.firstOffset}-${x.segment.lastOffset} prev=${String(x.previous).slice(0, 8)}`);
        }
        throw new Error(`partition ${p} version ${v.version} starts at ${m.segment.firstOffset}, expected ${next}: ${chain.join(', ')}`);
      }
      const seg = await openSegment((await blobs.get(m.segment.key))!);
      const logRecords = await log.read(topic, Number(p), seg.firstOffset, (BigInt(seg.lastOffset) + 1n).toString());
      if (logRecords.length !== seg.records.length) throw new Error(`segment ${m.segment.key} has ${seg.records.length} records, the log ${logRecords.length}`);
      logRecords.forEach((r, i) => {
        const s = seg.records[i]!;
        if (
          s.offset !== r.offset ||
          s.key !== r.key ||
          s.timestamp !== r.timestamp ||
          JSON.stringify(s.headers) !== JSON.stringify(r.headers) ||
          !(s.value ?? Buffer.alloc(0)).equals(r.value ?? Buffer.alloc(0)) ||
          (s.value === null) !== (r.value === null)
        ) {
          throw new Error(`segment ${m.segment.key} record ${s.offset} differs from the log's`);
        }
      });
      next = BigInt(m.nextOffset);
      segments++;
    }
    if (next !== BigInt(end)) throw new Error(`partition ${p} archived up to ${next}, the log ends at ${end}`);
  }
  return segments;
}

/** The blob store with its `delete` failing from the `failAt`-th call on (a crash in the middle of the retention). */
export function failingDeletes(blobs: BlobStore, failAt: number, only: RegExp): BlobStore {
  let n = 0;
  return new Proxy(blobs, {
    get(target, prop, receiver) {
      if (prop === 'delete') {
        return async (key: string) => {
          if (only.test(key) && ++n >= failAt) throw new Error(`injected crash before deleting ${key}`);
          return target.delete(key);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** Version and checksum (`version:checksum`) of each agent in a data dir's SQLite store. */
export async function storeHeads(storePath: string, ids: string[]): Promise<Record<string, string>> {
  const store = new SqliteStateStore({ path: storePath });
  try {
    const got = await store.getStates(ids);
    return Object.fromEntries(ids.map((id) => [id, `${got.get(id)?.version}:${got.get(id)?.checksum}`]));
  } finally {
    await store.close();
  }
}
