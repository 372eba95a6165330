import { hash } from 'node:crypto';
import type { StoredRecord } from '../log/port.js';
import { cleanMessage, readEventRecord, type EventReader, type RecordRejectReason, type StateEvent } from '../domain/index.js';
import { sizeChange } from '../domain/state-size.js';
import { scanEvent, type ScannedEvent } from './scan.js';

/**
 * What analytics needs of one event record, read without building the state
 * or parsing changeset values (issue 16: it must keep up with the log). On
 * Avro the values stay the canonical JSON strings avsc hands over; on the
 * embedded JSON codec they are re-serialised, which yields the same canonical
 * text because JSON.parse keeps the canonical key order.
 */
export interface EventFact extends Omit<ScannedEvent, 'ref'> {
  partition: number;
  offset: string;
  instanceId: string;
  /** The record's size on the log: key + header keys and values + value bytes (docs/analytics.md, Storage). */
  recordBytes: number;
  /**
   * Set when the record is rejected before the order rules, as every reader
   * rejects it in `readEventRecord` (a claim-checked changeset whose blob is
   * gone or is not the body its SHA-256 names): counted rejected with this
   * reason, the head unchanged.
   */
  rejectedAs?: Extract<RecordRejectReason, 'changeset_missing' | 'changeset_mismatch'>;
}

/** Fetches and verifies claim-checked changesets (the profile's codec: `withChangesets`). */
export type ChangesetResolver = Required<Pick<EventReader, 'resolveChangeset'>>;

/** Why a record is skipped, counted per reason (docs/analytics.md, Bad input). */
export type SkipReason = 'tombstone' | 'undecodable' | 'wrong_key' | 'missing_field' | 'bad_field';

export type FactReading = { kind: 'fact'; fact: EventFact } | { kind: 'skip'; reason: SkipReason; detail: string };

/** Turns a record value into the decoded record object (Avro through the registry, or JSON). */
export type BodyReader = (value: Buffer) => Promise<unknown>;

/**
 * A body reader for both wire formats, told apart by their first byte: 0 is
 * Confluent-framed Avro (needs `avro`), `{` is the embedded JSON codec.
 */
export function bodyReader(avro?: (value: Buffer) => Promise<unknown>): BodyReader {
  const reader: BodyReader = async (value) => {
    if (value[0] === 0x7b) return JSON.parse(value.toString('utf8')) as unknown;
    if (value[0] === 0 && avro) return avro(value);
    throw new Error(value[0] === 0 ? 'Avro record and no schema registry configured' : `first byte ${value[0]} is neither Avro (0) nor JSON ({)`);
  };
  jsonReaders.add(reader);
  return reader;
}

/** Readers that read `{` records with JSON.parse: for them `readFact` may scan the bytes instead (same figures). */
const jsonReaders = new WeakSet<BodyReader>();

/**
 * {@link readFact} without waiting, for the records the scanner reads (JSON
 * records of a `bodyReader`, in the codec's canonical form); undefined for
 * the others, which `readFact` reads.
 */
export function scanFact(record: StoredRecord, read: BodyReader): FactReading | undefined {
  if (record.value === null || record.value[0] !== 0x7b || !jsonReaders.has(read)) return undefined;
  const s = scanEvent(record.value, record.key);
  // A claim-checked changeset is fetched and verified like every reader does: readFact's parse path.
  if (!s || s.ref !== undefined) return undefined;
  return {
    kind: 'fact',
    fact: {
      partition: record.partition,
      offset: record.offset,
      instanceId: record.key,
      version: s.version,
      epoch: s.epoch,
      timestamp: s.timestamp,
      eventType: s.eventType,
      checksum: s.checksum,
      changes: s.changes,
      changesetBytes: s.changesetBytes,
      recordBytes: recordBytes(record),
      sizeDelta: s.sizeDelta,
      changeKey: s.changeKey,
      status: s.status,
      agentType: s.agentType,
      sealed: s.sealed,
    },
  };
}

/** A JSON-record change value → its canonical JSON text; absent (undefined) stays null, JSON null is "null". */
const enc = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));

/**
 * Reads one events-topic record into an {@link EventFact}. A record that does
 * not decode or lacks a field is a `skip` with its reason (issue 16, Bad
 * input); the rest is decided by `readEventRecord`, the one reading every
 * reader of the log shares (issue 12 §2): a record filed under another
 * agent's key is skipped as `wrong_key`, and a claim-checked changeset is
 * fetched through `changesets` and verified (a missing or altered blob is a
 * fact `rejectedAs` the same reason as the projector's DLQ), its sizes then
 * read from the changeset itself, as if it were inline. JSON records in the
 * codec's canonical form are read by one scan of their bytes (scan.ts), with
 * the same figures. Throws only what `readEventRecord` throws (a
 * claim-checked record and no `changesets`: AS_CONFIG; a blob store that
 * does not answer), which the consumer retries.
 */
export async function readFact(record: StoredRecord, read: BodyReader, changesets?: ChangesetResolver): Promise<FactReading> {
  return scanFact(record, read) ?? parseFact(record, read, changesets);
}

/** {@link readFact} by decoding the whole record (Avro, claim-checked records, and JSON the scanner leaves alone). */
export async function parseFact(record: StoredRecord, read: BodyReader, changesets?: ChangesetResolver): Promise<FactReading> {
  if (record.value === null) return { kind: 'skip', reason: 'tombstone', detail: 'null value' };
  let body: unknown;
  try {
    body = await read(record.value);
  } catch (err) {
    return { kind: 'skip', reason: 'undecodable', detail: cleanMessage(err) };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { kind: 'skip', reason: 'undecodable', detail: 'not a record' };
  const w = body as Record<string, unknown>;
  const avro = record.value[0] === 0;
  for (const [field, type] of REQUIRED) {
    if (w[field] === undefined || w[field] === null) return { kind: 'skip', reason: 'missing_field', detail: field };
    if (typeof w[field] !== type) return { kind: 'skip', reason: 'bad_field', detail: `${field} is not a ${type}` };
  }
  if (!Array.isArray(w.changeset)) return { kind: 'skip', reason: 'missing_field', detail: 'changeset' };
  const instanceId = w.instanceId as string;
  const version = w.version as number;
  if (!Number.isSafeInteger(version) || version < 1) return { kind: 'skip', reason: 'bad_field', detail: `version ${version}` };
  // The body is decoded once, above; the key and the claim check are decided by the domain's reading.
  const reading = await readEventRecord(
    record,
    changesets ? { decode: async () => w as unknown as StateEvent, resolveChangeset: (e, ref) => changesets.resolveChangeset(e, ref) } : async () => w as unknown as StateEvent,
  );
  let rejectedAs: EventFact['rejectedAs'];
  let changes = w.changeset as unknown[];
  // A claim-checked changeset (docs/writer.md, Large changesets), resolved: its values are JSON values, as on the embedded codec.
  let resolved = false;
  if (reading.kind === 'rejected') {
    if (reading.reason === 'changeset_missing' || reading.reason === 'changeset_mismatch') {
      rejectedAs = reading.reason;
      changes = [];
    } else return { kind: 'skip', reason: reading.reason === 'wrong_key' ? 'wrong_key' : 'undecodable', detail: reading.detail };
  } else if (reading.kind === 'event' && w.changesetRef !== undefined && w.changesetRef !== null) {
    changes = reading.event.changeset;
    resolved = true;
  }

  const sealedBytes = w.encryptedChangeset;
  const sealed = sealedBytes !== null && sealedBytes !== undefined && (Buffer.isBuffer(sealedBytes) || typeof sealedBytes === 'string');
  let changesetBytes = 0;
  let sizeDelta = 0;
  let status: string | undefined;
  let agentType: string | undefined;
  let changeKey: string | undefined;
  const jsonValues = !avro || resolved;
  if (sealed) {
    changesetBytes = Buffer.isBuffer(sealedBytes) ? sealedBytes.length : Buffer.byteLength(sealedBytes as string);
  } else if (changes.length > 0) {
    // One string hashed once: the same digest as feeding the parts one by one, at a fraction of the cost.
    let keyText = '';
    for (const c of changes) {
      if (typeof c !== 'object' || c === null) return { kind: 'skip', reason: 'bad_field', detail: 'changeset item is not a record' };
      const { path, op, oldValue, oldBytes, newValue } = c as Record<string, unknown>;
      if (typeof path !== 'string' || typeof op !== 'string') return { kind: 'skip', reason: 'missing_field', detail: 'changeset path/op' };
      const oldText = jsonValues ? enc(oldValue) : (oldValue as string | null);
      const newText = jsonValues ? enc(newValue) : (newValue as string | null);
      // A writer leaves a large old value out and records its size instead (oldBytes, docs/domain.md).
      const oldLen = oldText !== null && oldText !== undefined ? Buffer.byteLength(oldText) : typeof oldBytes === 'number' ? oldBytes : typeof oldBytes === 'bigint' ? Number(oldBytes) : 0;
      const newLen = newText === null ? 0 : Buffer.byteLength(newText);
      changesetBytes += Buffer.byteLength(path) + (oldText !== null && oldText !== undefined ? oldLen : 0) + newLen;
      sizeDelta += sizeChange(path, op, oldLen, newLen);
      if (path === '/status' && newText !== null) status = unquote(newText);
      else if (path === '/agentType' && newText !== null) agentType = unquote(newText);
      keyText += `${path.replace(/\/\d+(?=\/|$)/g, '/#')}\0${op}\0${newText ?? ''}\u0001`;
    }
    changeKey = hash('sha1', keyText, 'base64');
  }
  return {
    kind: 'fact',
    fact: {
      partition: record.partition,
      offset: record.offset,
      instanceId,
      version,
      epoch: w.writerEpoch as number,
      timestamp: w.timestamp as number,
      eventType: w.eventType as string,
      checksum: w.stateChecksum as string,
      changes: sealed ? 0 : changes.length,
      changesetBytes,
      recordBytes: recordBytes(record),
      sizeDelta,
      changeKey,
      status,
      agentType,
      sealed,
      ...(rejectedAs ? { rejectedAs } : {}),
    },
  };
}

/**
 * What a record occupies on the log, as the consumer sees it: the UTF-8 key,
 * each header's key and value, and the value (Avro framing included). Kafka's
 * per-record and per-batch framing (varints, attributes, CRC) is not counted.
 */
export function recordBytes(record: Pick<StoredRecord, 'key' | 'headers' | 'value'>): number {
  let n = Buffer.byteLength(record.key) + (record.value?.length ?? 0);
  for (const k in record.headers) n += Buffer.byteLength(k) + Buffer.byteLength(record.headers[k]!);
  return n;
}

const REQUIRED: ReadonlyArray<[string, 'string' | 'number']> = [
  ['instanceId', 'string'],
  ['eventType', 'string'],
  ['version', 'number'],
  ['writerEpoch', 'number'],
  ['timestamp', 'number'],
  ['stateChecksum', 'string'],
];

function unquote(text: string): string {
  return text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1) : text;
}
