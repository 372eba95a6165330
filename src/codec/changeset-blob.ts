import { createHash } from 'node:crypto';
import type { BlobStore } from '../blob/port.js';
import { encodeKeySegment, type Change, type ChangesetRef, type EventReader, type StateEvent } from '../domain/index.js';
import { AlreadyExistsError, ChecksumMismatchError, InvalidInputError, NotFoundError, TooLargeError } from '../errors.js';
import type { Heartbeat } from '../domain/heartbeat.js';
import { changesetSizeDelta } from '../domain/state-size.js';
import { openBlob, sealBlob } from './blob-frame.js';
import type { CompressionAlgorithm } from './compression.js';
import type { EventCodec } from './event-codec.js';
import type { Keyring } from './keyring.js';
import { changesetFromJson, changesetToJson } from './event-wire.js';

/** Limits of claim-checked changesets (issue 12 §6; docs/writer.md, Large changesets). */
export interface ChangesetLimits {
  /**
   * A changeset whose canonical JSON is larger than this goes to the blob
   * store, and the event carries a reference to it (like states above the
   * projector's `claimCheckBytes`). @default 524288 (512 KiB)
   */
  claimCheckBytes: number;
  /**
   * The hard cap: a larger changeset fails with `AS_TOO_LARGE` naming
   * `maxChangesetBytes` before anything is written, on every profile.
   * @default 16777216 (16 MiB)
   */
  maxChangesetBytes: number;
  /** Compression of the blob body (a src/codec frame, which carries its own SHA-256). @default 'lz4' */
  algorithm: CompressionAlgorithm;
}

export const DEFAULT_CHANGESET_LIMITS: ChangesetLimits = { claimCheckBytes: 512 * 1024, maxChangesetBytes: 16 * 1024 * 1024, algorithm: 'lz4' };

/** The blob store, or how to open it when first needed (a read-only CLI command opens it only for a claim-checked record). */
export type BlobSource = BlobStore | (() => Promise<BlobStore>);

/** `changesets/<agent key segment>/<sha256>`: content-addressed per agent, so a retried write puts the same bytes under the same key. */
export function changesetBlobKey(instanceId: string, sha256: string): string {
  return `changesets/${encodeKeySegment(instanceId)}/${sha256}`;
}

/**
 * An event codec whose writes claim-check large changesets and whose reads
 * resolve them (the `EventReader` of `readEventRecord`). Writing: the blob is
 * stored durably (create-only, content-addressed) inside `encode`, which the
 * writer calls before it appends, so a crash in between leaves an orphan blob,
 * never an event naming a blob that is not there. Bodies are compressed frames
 * like claim-checked states; events are not encrypted on the log, so neither
 * is this body (docs/writer.md, Large changesets).
 */
export class ChangesetClaimCheck implements EventCodec, EventReader {
  private opened: Promise<BlobStore> | undefined;
  readonly limits: ChangesetLimits;

  constructor(
    readonly inner: EventCodec,
    readonly blobs: BlobSource,
    limits: Partial<ChangesetLimits> = {},
    /** Opens bodies encrypted under their agent's data key (a backup's copies, when the backup encrypts values). */
    private readonly keyring?: Keyring,
  ) {
    this.limits = { ...DEFAULT_CHANGESET_LIMITS, ...limits };
  }

  /** Values encoded with a claim check → their changeset's estimated state-size change (see claimedSizeDelta). */
  private readonly claimed = new WeakMap<Buffer, number>();

  private store(): Promise<BlobStore> {
    if (typeof this.blobs !== 'function') return Promise.resolve(this.blobs);
    const open = this.blobs;
    this.opened ??= open().catch((err: unknown) => {
      this.opened = undefined;
      throw err;
    });
    return this.opened;
  }

  encodeHeartbeat(heartbeat: Heartbeat): Promise<Buffer> {
    return this.inner.encodeHeartbeat(heartbeat);
  }

  decode(value: Buffer): Promise<StateEvent> {
    return this.inner.decode(value);
  }

  /** @throws TooLargeError naming `maxChangesetBytes` past the hard cap */
  async encode(event: StateEvent): Promise<Buffer> {
    if (event.changesetRef !== undefined) return this.inner.encode({ ...event, changeset: [] });
    const json = changesetToJson(event.changeset);
    const bytes = Buffer.byteLength(json, 'utf8');
    if (bytes <= this.limits.claimCheckBytes) return this.inner.encode(event);
    if (bytes > this.limits.maxChangesetBytes) {
      throw new TooLargeError(`changeset of ${event.eventType} event for ${event.instanceId} (maxChangesetBytes, the hard cap of claim-checked changesets)`, bytes, this.limits.maxChangesetBytes, {
        details: { limitName: 'maxChangesetBytes' },
      });
    }
    const sha256 = createHash('sha256').update(json, 'utf8').digest('hex');
    const blobKey = changesetBlobKey(event.instanceId, sha256);
    const body = await sealBlob(json, { algorithm: this.limits.algorithm });
    const blobs = await this.store();
    try {
      await blobs.put(blobKey, body, { ifNoneMatch: true, contentType: 'application/octet-stream' });
    } catch (err) {
      // Same key, same content: a retry, or the same changeset written before.
      if (!(err instanceof AlreadyExistsError)) throw err;
    }
    const changesetRef: ChangesetRef = { blobKey, sha256, bytes, changes: event.changeset.length };
    const value = await this.inner.encode({ ...event, changeset: [], changesetRef });
    this.claimed.set(value, changesetSizeDelta(event.changeset));
    return value;
  }

  /**
   * For a value this codec encoded with its changeset claim-checked: the
   * estimated state-size change of that changeset (`changesetSizeDelta`),
   * which the writer puts in the record's `stateSizeDelta` header so that
   * analytics counts it without fetching the blob. Undefined for others.
   */
  claimedSizeDelta(value: Buffer): number | undefined {
    return this.claimed.get(value);
  }

  /**
   * Fetches and verifies a claim-checked changeset: the key must be the one
   * the agent and SHA-256 name (so an event cannot borrow another agent's
   * blob), the frame's own checksum must hold, and so must the event's SHA-256.
   * @throws NotFoundError (blob gone), ChecksumMismatchError, DecodeError, InvalidInputError; anything else is the blob store's
   */
  async resolveChangeset(event: StateEvent, ref: ChangesetRef): Promise<Change[]> {
    const expected = changesetBlobKey(event.instanceId, ref.sha256);
    if (ref.blobKey !== expected) throw new InvalidInputError('changeset reference', `blob key ${ref.blobKey} is not ${expected} (agent and SHA-256 of the event)`);
    const blob = await (await this.store()).get(ref.blobKey);
    if (blob === undefined) throw new NotFoundError(`claim-checked changeset ${ref.blobKey} of event ${event.eventId}`);
    const json = await openBlob(blob, { ...(this.keyring ? { keyring: this.keyring } : {}), aad: Buffer.from(ref.blobKey) });
    const actual = createHash('sha256').update(json).digest('hex');
    if (actual !== ref.sha256) throw new ChecksumMismatchError(`claim-checked changeset ${ref.blobKey}`, ref.sha256, actual);
    return changesetFromJson(json.toString('utf8'));
  }
}

/** `codec` claim-checking and resolving changesets through `blobs` (a codec that already does is re-wired to `blobs`). */
export function withChangesets(codec: EventCodec, blobs: BlobSource, limits: Partial<ChangesetLimits> = {}, keyring?: Keyring): ChangesetClaimCheck {
  return new ChangesetClaimCheck(codec instanceof ChangesetClaimCheck ? codec.inner : codec, blobs, limits, keyring);
}
