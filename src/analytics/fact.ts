import { hash } from 'node:crypto';
import type { StoredRecord } from '../log/port.js';
import { cleanMessage } from '../domain/index.js';
import { sizeChange } from '../domain/state-size.js';
import { HEADER } from '../client/tail.js';
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
}

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
  if (!s) return undefined;
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
      sizeDelta: s.ref !== undefined ? claimedSizeDelta(record) : s.sizeDelta,
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
 * Reads one events-topic record into an {@link EventFact}. Never throws: a
 * record that does not decode, names another agent than its key, or lacks a
 * field is a `skip` with its reason (issue 16, Bad input).
 */
export async function readFact(record: StoredRecord, read: BodyReader): Promise<FactReading> {
  return scanFact(record, read) ?? parseFact(record, read);
}

/** {@link readFact} by decoding the whole record (Avro, and JSON the scanner leaves alone). */
export async function parseFact(record: StoredRecord, read: BodyReader): Promise<FactReading> {
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
  if (instanceId !== record.key) return { kind: 'skip', reason: 'wrong_key', detail: `record key ${record.key}, event instanceId ${instanceId}` };
  const version = w.version as number;
  if (!Number.isSafeInteger(version) || version < 1) return { kind: 'skip', reason: 'bad_field', detail: `version ${version}` };

  const sealedBytes = w.encryptedChangeset;
  const sealed = sealedBytes !== null && sealedBytes !== undefined && (Buffer.isBuffer(sealedBytes) || typeof sealedBytes === 'string');
  let changesetBytes = 0;
  let sizeDelta = 0;
  let status: string | undefined;
  let agentType: string | undefined;
  let changeKey: string | undefined;
  const changes = w.changeset as unknown[];
  // A claim-checked changeset (docs/writer.md, Large changesets): its size and count travel in the
  // reference and its state-size change in the record's header, so analytics never fetches the body.
  const ref = w.changesetRef;
  const claimChecked = typeof ref === 'object' && ref !== null;
  if (claimChecked) {
    const r = ref as Record<string, unknown>;
    changesetBytes = Number(r.bytes ?? 0);
    sizeDelta = claimedSizeDelta(record);
  } else if (sealed) {
    changesetBytes = Buffer.isBuffer(sealedBytes) ? sealedBytes.length : Buffer.byteLength(sealedBytes as string);
  } else if (changes.length > 0) {
    // One string hashed once: the same digest as feeding the parts one by one, at a fraction of the cost.
    let keyText = '';
    for (const c of changes) {
      if (typeof c !== 'object' || c === null) return { kind: 'skip', reason: 'bad_field', detail: 'changeset item is not a record' };
      const { path, op, oldValue, oldBytes, newValue } = c as Record<string, unknown>;
      if (typeof path !== 'string' || typeof op !== 'string') return { kind: 'skip', reason: 'missing_field', detail: 'changeset path/op' };
      const oldText = avro ? (oldValue as string | null) : enc(oldValue);
      const newText = avro ? (newValue as string | null) : enc(newValue);
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
      changes: claimChecked ? Number((ref as Record<string, unknown>).changes ?? 0) : sealed ? 0 : changes.length,
      changesetBytes,
      recordBytes: recordBytes(record),
      sizeDelta,
      changeKey,
      status,
      agentType,
      sealed,
    },
  };
}

/**
 * A claim-checked changeset's estimated state-size change, from the record's
 * `stateSizeDelta` header (the writer's `changesetSizeDelta`); 0 when the
 * header is absent (records written before it, or by another writer) or not
 * an integer.
 */
function claimedSizeDelta(record: Pick<StoredRecord, 'headers'>): number {
  const text = record.headers[HEADER.stateSizeDelta];
  const n = text === undefined ? NaN : Number(text);
  return Number.isSafeInteger(n) ? n : 0;
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
