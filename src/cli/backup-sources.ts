import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FsBlobStore } from '../blob/fs.js';
import type { BlobStore } from '../blob/port.js';
import { S3BlobStore } from '../blob/s3.js';
import { MasterKeySet } from '../codec/master-keys.js';
import { Keyring } from '../codec/keyring.js';
import { readEnv, requireServers } from '../config/env.js';
import { MongoConnection } from '../store/mongo/connection.js';
import { MongoDataKeyStore } from '../store/mongo/data-keys.js';
import { SqliteDataKeyStore } from '../store/sqlite/data-keys.js';
import { ENV_SETTING_NAMES, probeServers } from '../sdk/probe.js';
import { UsageError } from './args.js';
import type { Backend } from './backend.js';
import { openProjection, type Projection } from './projection.js';
import type { OpenArchive } from './scan.js';

/*
 * What the backup commands (backup, restore, start's archiver) open on the
 * source side: the blob store the backup lives in and, for an encrypted
 * backup, the keys. Apart from the commands so that none imports another.
 */

/** The state store + keyring of the source, when the environment names master keys (an encrypted backup needs them). */
export async function openKeys(backend: Backend, dataDir: string, env: NodeJS.ProcessEnv): Promise<Projection | undefined> {
  return (await MasterKeySet.fromEnv(env)) ? openProjection(backend, dataDir, env) : undefined;
}

/**
 * The keyring of the source for a command that only reads (`backup verify`):
 * the data keys opened read-only (keys.sqlite, or MongoDB `data_keys`), no
 * sink opened for writing, so a read-only data dir works (issue 12 §7).
 * Undefined when the environment names no master keys, or (embedded) the
 * data dir has no keys.sqlite.
 */
export async function openKeyringReadOnly(backend: Backend, dataDir: string, env: NodeJS.ProcessEnv): Promise<{ keyring: Keyring; close(): Promise<void> } | undefined> {
  const masterKeys = await MasterKeySet.fromEnv(env);
  if (!masterKeys) return undefined;
  if (backend.kind === 'embedded') {
    const path = join(resolve(dataDir), 'keys.sqlite');
    if (!existsSync(path)) return undefined;
    const keys = new SqliteDataKeyStore({ path, readOnly: true });
    return { keyring: new Keyring({ masterKeys, store: keys }), close: () => keys.close() };
  }
  const config = readEnv(env);
  const mongo = requireServers(config).mongo;
  await probeServers({ mongo }, ENV_SETTING_NAMES, config.connectTimeoutMs);
  const connection = await MongoConnection.connect({ uri: mongo.uri, database: mongo.database });
  return { keyring: new Keyring({ masterKeys, store: new MongoDataKeyStore(connection) }), close: () => connection.close() };
}

/**
 * The blob store the backup lives in, for a backend. On servers S3 is checked
 * first, within AGENTSTATE_CONNECT_TIMEOUT_MS (issue 12 §1: `backup status`
 * and `verify` waited on the SDK's retries with S3 down).
 * @throws AgentStateError AS_UNAVAILABLE naming S3 and S3_ENDPOINT
 */
export async function openBackupBlobs(backend: Backend, dataDir: string, env: NodeJS.ProcessEnv): Promise<BlobStore> {
  if (backend.kind === 'embedded') return new FsBlobStore({ dir: join(resolve(dataDir), 'blobs') });
  if (!env.S3_ENDPOINT || !env.S3_BUCKET) throw new UsageError('the servers backend needs S3_ENDPOINT and S3_BUCKET for the backup');
  const config = readEnv(env);
  await probeServers({ s3: config.s3 }, ENV_SETTING_NAMES, config.connectTimeoutMs);
  return new S3BlobStore({
    endpoint: env.S3_ENDPOINT,
    bucket: env.S3_BUCKET,
    ...(env.S3_ACCESS_KEY ? { accessKeyId: env.S3_ACCESS_KEY } : {}),
    ...(env.S3_SECRET_KEY ? { secretAccessKey: env.S3_SECRET_KEY } : {}),
    prefix: backend.prefix,
    createBucket: false,
  });
}

/** Opens the backup (and the keys, read-only, for an encrypted one) when a command first needs history the events topic no longer has. */
export function archiveOpener(backend: Backend, dataDir: string, env: NodeJS.ProcessEnv): OpenArchive {
  return async () => {
    const blobs = await openBackupBlobs(backend, dataDir, env);
    const keys = await openKeyringReadOnly(backend, dataDir, env);
    return { blobs, ...(keys ? { keyring: keys.keyring } : {}), close: async () => void (await Promise.all([blobs.close(), keys?.close()])) };
  };
}
