import { DEFAULT_TOPIC_PREFIX } from '../log/topics.js';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { BlobStore } from '../blob/port.js';
import { FsBlobStore } from '../blob/fs.js';
import { MemoryCache } from '../cache/memory.js';
import type { EventCodec } from '../codec/event-codec.js';
import { Keyring } from '../codec/keyring.js';
import type { MasterKeySet } from '../codec/master-keys.js';
import { SqliteEventLog } from '../log/sqlite/index.js';
import { SqliteDataKeyStore, SqliteStateStore } from '../store/sqlite/index.js';
import type { RestoreProgress } from './restore.js';
import { restoreInto, type RestoreReport } from './restore-target.js';
import { makePrivateDir } from '../util/private-files.js';

export type { RestoreReport };

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
  /** Only these agents; @default all */
  agents?: ReadonlySet<string>;
  /** Cross damage, stopping each affected agent at its last contiguous version. */
  allowGap?: boolean;
  onProgress?: (p: RestoreProgress) => void;
  /** Decrypts an encrypted backup (the source's master keys and data keys), when the backup holds no keys. */
  keyring?: Keyring;
  /**
   * The master keys: the backup's wrapped data keys and shred list are then
   * restored into DIR/keys.sqlite, decrypt the backup, and encrypt the
   * restored snapshots.
   */
  masterKeys?: MasterKeySet;
  logger?: Logger;
}

/**
 * `agentstate restore --target-data-dir DIR` on the embedded profile:
 * republishes the backup into a new SQLite log in DIR, runs the projector
 * until it has caught up, then checks every agent's version and checksum
 * against the fold of the backup. Re-running after a crash continues.
 */
export async function restoreEmbedded(options: EmbeddedRestoreOptions): Promise<RestoreReport> {
  const dir = resolve(options.targetDataDir);
  // A restored data dir holds agents' memory: 0700, like every embedded data dir (issue 12 §7); the files inside are created 0600.
  makePrivateDir(dir);
  const log = new SqliteEventLog({ path: join(dir, 'log.sqlite') });
  const store = new SqliteStateStore({ path: join(dir, 'store.sqlite') });
  const blobs = new FsBlobStore({ dir: join(dir, 'blobs') });
  const topicPrefix = options.topicPrefix ?? DEFAULT_TOPIC_PREFIX;
  const dataKeys = options.masterKeys ? new SqliteDataKeyStore({ path: join(dir, 'keys.sqlite') }) : undefined;
  try {
    await store.setup();
    await blobs.setup();
    await dataKeys?.setup();
    const keys = dataKeys && options.masterKeys ? { dataKeys, keyring: new Keyring({ masterKeys: options.masterKeys, store: dataKeys }) } : {};
    return await restoreInto({
      blobs: options.blobs,
      target: { log, codec: options.codec, store, blobs, cache: new MemoryCache(), topicPrefix, ...keys },
      ...(options.to !== undefined ? { to: options.to } : {}),
      ...(options.agents ? { agents: options.agents } : {}),
      ...(options.allowGap ? { allowGap: true } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.keyring ? { keyring: options.keyring } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
  } finally {
    await Promise.allSettled([log.close(), store.close(), blobs.close(), dataKeys?.close()]);
  }
}
