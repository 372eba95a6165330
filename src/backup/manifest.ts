import { openBlob, sealBlob } from '../codec/blob-frame.js';
import { DecodeError } from '../codec/errors.js';
import { AlreadyExistsError } from '../errors.js';
import type { BlobStore } from '../blob/port.js';
import { parseJson } from '../domain/json.js';
import { sha256Hex } from './segment.js';

/**
 * Blob keys of the backup (docs/backup.md). Offsets and versions are
 * zero-padded so that key order is numeric order (S3 and the file system list
 * in key order).
 */
export const BACKUP_ROOT = 'backup/events';

const pad = (n: bigint | number | string, width: number): string => BigInt(n).toString().padStart(width, '0');

/** `backup/events/<partition>/segments/<first:20>-<last:20>`: deterministic, so a re-archived range is the same key. */
export function segmentKey(partition: number, firstOffset: string, lastOffset: string): string {
  return `${BACKUP_ROOT}/${partition}/segments/${pad(firstOffset, 20)}-${pad(lastOffset, 20)}`;
}

/** The prefix of a partition's manifest versions. */
export function manifestPrefix(partition: number): string {
  return `${BACKUP_ROOT}/${partition}/manifest/`;
}

/** `backup/events/<partition>/manifest/<version:12>`: each version is created once (If-None-Match). */
export function manifestKey(partition: number, version: number): string {
  return `${manifestPrefix(partition)}${pad(version, 12)}`;
}

/** Per-agent summary of one segment: versions seen (min, max) and how many events. */
export interface AgentRange {
  firstVersion: number;
  lastVersion: number;
  events: number;
}

/** The manifest entry of one segment. */
export interface SegmentEntry {
  key: string;
  /** Decimal offsets, inclusive. */
  firstOffset: string;
  lastOffset: string;
  records: number;
  /** Record timestamps (ms): smallest and largest in the segment. */
  minTimestamp: number;
  maxTimestamp: number;
  /** Stored size and SHA-256 hex of the stored bytes. */
  storedBytes: number;
  sha256: string;
  /** SHA-256 hex of the segment body (also in the frame header). */
  bodySha256: string;
  compression: string;
  /** Values are encrypted per agent (docs/backup.md "Encryption"). */
  encrypted: boolean;
  /** Agents whose events the segment holds (record key = instanceId). */
  agents: Record<string, AgentRange>;
  /** Records that are tombstones or do not decode as events (kept byte for byte all the same). */
  otherRecords: number;
}

/**
 * One version of a partition's manifest: it adds exactly one segment and
 * names the SHA-256 of the previous version's stored bytes, so the versions
 * form a hash chain. Version N is written with If-None-Match on its own key:
 * two backup processes racing for N cannot both win, so the chain never
 * forks (issue 14: "conditional writes so two backup processes can never fork it").
 */
export interface ManifestVersion {
  format: 'agentstate.backup.manifest/1';
  topic: string;
  partition: number;
  /** Partitions of the topic when written (a restore recreates as many). */
  partitions: number;
  version: number;
  /** SHA-256 hex of version - 1's stored bytes; null for version 1. */
  previous: string | null;
  /** Next offset to archive after this version (= segment.lastOffset + 1). */
  nextOffset: string;
  segment: SegmentEntry;
  /** When this version was written (ms). */
  writtenAt: number;
}

/** The head of a partition's chain as the archiver tracks it. */
export interface ManifestHead {
  partition: number;
  /** 0 = no manifest yet. */
  version: number;
  /** SHA-256 of the head version's stored bytes; null when version 0. */
  sha256: string | null;
  /** Null when version 0 (start wherever the log starts). */
  nextOffset: string | null;
  lastSegmentAt: number | null;
}

/** Seals a manifest version (uncompressed frame: readable, and a truncation is detected by the frame sizes + SHA-256). */
export async function sealManifest(m: ManifestVersion): Promise<Buffer> {
  return sealBlob(JSON.stringify(m), { algorithm: 'none' });
}

/** Opens and checks a stored manifest version. @throws DecodeError, ChecksumMismatchError */
export async function openManifest(bytes: Uint8Array, key: string): Promise<ManifestVersion> {
  const json = parseJson((await openBlob(bytes)).toString('utf8'), `manifest ${key}`) as unknown as ManifestVersion;
  if (json === null || typeof json !== 'object' || json.format !== 'agentstate.backup.manifest/1') {
    throw new DecodeError(`manifest ${key}`, 'not an agentstate.backup.manifest/1 document');
  }
  if (!Number.isSafeInteger(json.version) || !json.segment || typeof json.segment.firstOffset !== 'string') {
    throw new DecodeError(`manifest ${key}`, 'missing version or segment');
  }
  return json;
}

/** Version numbers present under a partition's manifest prefix, ascending. */
export async function listManifestVersions(blobs: BlobStore, partition: number): Promise<{ version: number; key: string }[]> {
  const out: { version: number; key: string }[] = [];
  const prefix = manifestPrefix(partition);
  for await (const info of blobs.list(prefix)) {
    const rest = info.key.slice(prefix.length);
    if (/^\d{12}$/.test(rest)) out.push({ version: Number(rest), key: info.key });
  }
  return out.sort((a, b) => a.version - b.version);
}

/** Partitions that have a manifest. */
export async function listBackupPartitions(blobs: BlobStore): Promise<number[]> {
  const found = new Set<number>();
  for await (const info of blobs.list(`${BACKUP_ROOT}/`)) {
    const m = /^backup\/events\/(\d+)\/manifest\//.exec(info.key);
    if (m) found.add(Number(m[1]));
  }
  return [...found].sort((a, b) => a - b);
}

/**
 * Reads the head of a partition's chain: the highest version, opened and
 * checked (its key's version must be the version it declares).
 * @throws DecodeError / ChecksumMismatchError when the head is damaged: the
 *   archiver refuses to extend a chain it cannot read (verify names it)
 */
export async function readHead(blobs: BlobStore, partition: number): Promise<ManifestHead> {
  const versions = await listManifestVersions(blobs, partition);
  const last = versions.at(-1);
  if (!last) return { partition, version: 0, sha256: null, nextOffset: null, lastSegmentAt: null };
  return headFromKey(blobs, partition, last.key, last.version);
}

async function headFromKey(blobs: BlobStore, partition: number, key: string, version: number): Promise<ManifestHead> {
  const bytes = await blobs.get(key);
  if (!bytes) throw new DecodeError(`manifest ${key}`, 'listed but gone');
  const m = await openManifest(bytes, key);
  if (m.version !== version || m.partition !== partition) throw new DecodeError(`manifest ${key}`, `declares partition ${m.partition} version ${m.version}`);
  return { partition, version, sha256: sha256Hex(bytes), nextOffset: m.nextOffset, lastSegmentAt: m.writtenAt };
}

/**
 * Writes version `head.version + 1` naming `segment`. Returns the new head, or
 * `undefined` when another process created that version first (the caller
 * re-reads the head and drops what the winner archived).
 */
export async function appendManifest(blobs: BlobStore, head: ManifestHead, fields: { topic: string; partitions: number; segment: SegmentEntry; now: number }): Promise<ManifestHead | undefined> {
  const version = head.version + 1;
  const m: ManifestVersion = {
    format: 'agentstate.backup.manifest/1',
    topic: fields.topic,
    partition: head.partition,
    partitions: fields.partitions,
    version,
    previous: head.sha256,
    nextOffset: (BigInt(fields.segment.lastOffset) + 1n).toString(),
    segment: fields.segment,
    writtenAt: fields.now,
  };
  const bytes = await sealManifest(m);
  try {
    await blobs.put(manifestKey(head.partition, version), bytes, { ifNoneMatch: true, contentType: 'application/octet-stream' });
  } catch (err) {
    if (err instanceof AlreadyExistsError) return undefined;
    throw err;
  }
  return { partition: head.partition, version, sha256: sha256Hex(bytes), nextOffset: m.nextOffset, lastSegmentAt: m.writtenAt };
}
