import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { BlobStore } from '../blob/port.js';
import { FsBlobStore } from '../blob/fs.js';
import { MemoryCache } from '../cache/memory.js';
import type { EventCodec } from '../codec/event-codec.js';
import type { Keyring } from '../codec/keyring.js';
import { SqliteEventLog } from '../log/sqlite/index.js';
import { Projector } from '../projector/index.js';
import { SqliteStateStore } from '../store/sqlite/index.js';
import { republish, verifyRestored, type RepublishResult, type RestoreMismatch, type RestoreProgress } from './restore.js';

export interface EmbeddedRestoreOptions {
  /** The backup. */
  blobs: BlobStore;
  /** A new data dir (or one an interrupted restore left): log.sqlite, store.sqlite, blobs/ go here. */
  targetDataDir: string;
  codec: EventCodec;
  /** @default 'agentstate.' */
  topicPrefix?: string;
  /** Point in time (ms); @default latest */
  to?: number;
  onProgress?: (p: RestoreProgress) => void;
  /** Decrypts an encrypted backup (the source's master keys and data keys). */
  keyring?: Keyring;
  logger?: Logger;
}

export interface RestoreReport extends Omit<RepublishResult, 'projections'> {
  agents: number;
  checked: number;
  mismatched: RestoreMismatch[];
  /** Agents in the restored store that the backup does not have. */
  extra: string[];
  ok: boolean;
  seconds: { republish: number; project: number; verify: number };
}

/**
 * `agentstate restore --target-data-dir DIR` on the embedded profile:
 * republishes the backup into a new SQLite log in DIR, runs the projector
 * until it has caught up, then checks every agent's version and checksum
 * against the fold of the backup. Re-running after a crash continues.
 */
export async function restoreEmbedded(options: EmbeddedRestoreOptions): Promise<RestoreReport> {
  const dir = resolve(options.targetDataDir);
  mkdirSync(dir, { recursive: true });
  const log = new SqliteEventLog({ path: join(dir, 'log.sqlite') });
  const store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
  const blobs = new FsBlobStore({ dir: join(dir, 'blobs') });
  const topicPrefix = options.topicPrefix ?? 'agentstate.';
  try {
    await store.setup();
    await blobs.setup();
    let t = performance.now();
    const r = await republish({
      blobs: options.blobs,
      target: log,
      codec: options.codec,
      topicPrefix,
      ...(options.to !== undefined ? { to: options.to } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.keyring ? { keyring: options.keyring } : {}),
    });
    const republishS = (performance.now() - t) / 1000;
    t = performance.now();
    if (r.partitions > 0) {
      const projector = new Projector({
        log,
        codec: options.codec,
        store,
        blobs,
        cache: new MemoryCache(),
        topicPrefix,
        sweepIntervalMs: 0,
        ...(options.logger ? { logger: options.logger } : {}),
      });
      await projector.runUntilCaughtUp();
    }
    const projectS = (performance.now() - t) / 1000;
    t = performance.now();
    const v = await verifyRestored(store, r.projections);
    const { projections, ...rest } = r;
    return {
      ...rest,
      agents: projections.size,
      ...v,
      ok: v.mismatched.length === 0 && v.extra.length === 0,
      seconds: { republish: republishS, project: projectS, verify: (performance.now() - t) / 1000 },
    };
  } finally {
    await Promise.allSettled([log.close(), store.close(), blobs.close()]);
  }
}
