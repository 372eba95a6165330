import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { FsBlobStore } from '../../src/blob/fs.js';
import { MemoryCache } from '../../src/cache/memory.js';
import type { EventCodec } from '../../src/codec/event-codec.js';
import { Projector } from '../../src/projector/index.js';
import { SqliteEventLog } from '../../src/log/sqlite/index.js';
import { topicSpecs } from '../../src/log/topics.js';
import { SqliteStateStore } from '../../src/store/sqlite/index.js';

/** An embedded-profile source for backup tests: the SQLite log, the blob dir and the SQLite store of one data dir. */
export interface EmbeddedSource {
  dir: string;
  log: SqliteEventLog;
  /** `<dir>/blobs`: where the archiver writes (the backup). */
  blobs: FsBlobStore;
  store: SqliteStateStore;
  /** Closes the log, the blobs and the store (whatever fails to close). */
  close(): Promise<void>;
}

/**
 * Creates `dir` with a log holding `<prefix>` topics of `partitions`
 * partitions, a blob store and a state store, each set up: the set-up every
 * backup unit test starts from.
 */
export async function openEmbeddedSource(dir: string, prefix: string, partitions: number): Promise<EmbeddedSource> {
  mkdirSync(dir, { recursive: true });
  const log = new SqliteEventLog({ path: join(dir, 'log.sqlite'), pollIntervalMs: 10 });
  await log.setup(topicSpecs({ prefix, partitions }));
  const blobs = new FsBlobStore({ dir: join(dir, 'blobs'), fsync: false });
  await blobs.setup();
  const store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
  await store.setup();
  return {
    dir,
    log,
    blobs,
    store,
    close: async () => {
      await Promise.allSettled([log.close(), blobs.close(), store.close()]);
    },
  };
}

/** A fresh directory under the OS temp dir, removed after the test file's tests. */
export function tempRoot(label: string): string {
  const root = mkdtempSync(join(tmpdir(), `agentstate-${label}-`));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

/** Projects the source's log into its store until caught up (snapshot blobs under `<dir>/pblobs`, apart from the backup). */
export async function projectSource(source: EmbeddedSource, codec: EventCodec, prefix: string): Promise<void> {
  const { log, store, dir } = source;
  await new Projector({ log, codec, store, blobs: new FsBlobStore({ dir: join(dir, 'pblobs'), fsync: false }), cache: new MemoryCache(), topicPrefix: prefix, sweepIntervalMs: 0 }).runUntilCaughtUp(undefined, 20);
}
