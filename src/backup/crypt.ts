import type { Keyring } from '../codec/keyring.js';
import { KeyDestroyedError } from '../codec/errors.js';
import { InvalidInputError } from '../domain/errors.js';
import { KeyError } from '../errors.js';
import { valueAad, type Segment, type SegmentRecord } from './segment.js';

/**
 * Encrypts each record's value under the data key of the agent named by its
 * key (DESIGN.md Security), so destroying an agent's keys (crypto-shredding)
 * makes its archived events unreadable too. Tombstones stay as they are; an
 * agent whose key is already destroyed gets its value withheld (encoding 2),
 * never archived in the clear; a record whose key is not a valid instance id
 * (not an agent's event: the projector rejects it) stays plain.
 */
export async function encryptRecords(topic: string, partition: number, records: readonly SegmentRecord[], keyring: Keyring): Promise<SegmentRecord[]> {
  const out: SegmentRecord[] = [];
  for (const r of records) {
    if (r.value === null) {
      out.push({ ...r, encoding: 0 });
      continue;
    }
    try {
      out.push({ ...r, value: await keyring.encrypt(r.key, r.value, valueAad(topic, partition, r.offset)), encoding: 1 });
    } catch (err) {
      if (err instanceof KeyDestroyedError) out.push({ ...r, value: Buffer.alloc(0), encoding: 2 });
      else if (err instanceof InvalidInputError) out.push({ ...r, encoding: 0 });
      else throw err;
    }
  }
  return out;
}

/** A segment's records with values as the log had them. */
export interface ReadableRecords {
  /** Records whose bytes are available, in offset order (encoding 0). */
  records: SegmentRecord[];
  /** Offsets of records whose agent was crypto-shredded (withheld, or its key destroyed since). */
  shredded: string[];
}

/**
 * Decrypts a segment's encrypted values.
 * @throws AgentStateError AS_KEY when a value is encrypted and no keyring is given;
 *   AuthenticationFailedError / KeyError when a value does not decrypt (tampered, wrong keys)
 */
export async function readableRecords(segment: Segment, keyring: Keyring | undefined): Promise<ReadableRecords> {
  const records: SegmentRecord[] = [];
  const shredded: string[] = [];
  for (const r of segment.records) {
    const encoding = r.encoding ?? 0;
    if (encoding === 0) records.push(r);
    else if (encoding === 2) shredded.push(r.offset);
    else {
      if (!keyring)
        throw new KeyError(`segment ${segment.firstOffset}-${segment.lastOffset} of partition ${segment.partition} holds encrypted values: the master keys (AGENTSTATE_MASTER_KEYS[_FILE]) and data keys are needed`);
      try {
        const { encoding: _e, ...plain } = r;
        records.push({ ...plain, value: await keyring.decrypt(r.value!, valueAad(segment.topic, segment.partition, r.offset)) });
      } catch (err) {
        if (err instanceof KeyDestroyedError) shredded.push(r.offset);
        else throw err;
      }
    }
  }
  return { records, shredded };
}

/** Same records, ignoring values withheld or shredded in `existing` (for reusing a segment another run wrote). */
export function sameRecords(existing: ReadableRecords, ours: readonly SegmentRecord[], oursShredded: readonly string[]): boolean {
  const shredded = new Set([...existing.shredded, ...oursShredded]);
  const a = existing.records.filter((r) => !shredded.has(r.offset));
  const b = ours.filter((r) => !shredded.has(r.offset));
  if (a.length !== b.length) return false;
  return a.every((r, i) => {
    const o = b[i]!;
    return (
      r.offset === o.offset &&
      r.key === o.key &&
      r.timestamp === o.timestamp &&
      JSON.stringify(r.headers) === JSON.stringify(o.headers) &&
      (r.value === null ? o.value === null : o.value !== null && r.value.equals(o.value))
    );
  });
}
