import { isUtf8 } from 'node:buffer';
import { hash } from 'node:crypto';
import { BAIL, expect, isDigit, isText, key, lex, number, reserialised, skipString, skipValue, stringAt } from './json-lexer.js';

/**
 * A JSON event record read in one pass over its bytes, without building it
 * (the analytics fold's fast path on the embedded JSON codec: `JSON.parse` of
 * the whole record and the re-serialising of every changeset value were
 * half of the fold's time). The figures are the ones `readFact`'s parse path
 * computes, byte for byte: a value's text is its bytes on the record when
 * they are already what `JSON.stringify(JSON.parse(text))` gives (the codec
 * writes canonical JSON, so they are), else that expression on the value.
 * Anything else returns undefined and the parse path reads the record
 * (whitespace, invalid UTF-8, a malformed or unusual record, a field of an
 * unexpected type, keys out of order, escapes in a path...), so every skip
 * and its reason stay the parse path's.
 */
export interface ScannedEvent {
  version: number;
  epoch: number;
  timestamp: number;
  eventType: string;
  checksum: string;
  /** Changes in the changeset (0 when sealed; the reference's count when claim-checked). */
  changes: number;
  /** UTF-8 bytes of the changeset's paths and values (or of the sealed changeset; of its canonical JSON when claim-checked). */
  changesetBytes: number;
  /** Estimated change of the state's canonical JSON size (docs/analytics.md, State size). 0 when sealed; from the `stateSizeDelta` header when claim-checked (fact.ts). */
  sizeDelta: number;
  /** Hash of the changeset with array indexes blanked: equal for the same step repeated. Undefined when sealed or empty. */
  changeKey: string | undefined;
  /** The status the event sets, when it changes `/status`. */
  status: string | undefined;
  /** The agent type, when the event sets `/agentType` (instance_created does). */
  agentType: string | undefined;
  sealed: boolean;
  /** The `changesetRef` as JSON.parse reads it, when it is an object (claim-checked). */
  ref: Record<string, unknown> | undefined;
}

/** Bytes hashed into the changeset's key (grown on demand). */
let scratch = Buffer.allocUnsafe(1 << 16);

export function scanEvent(value: Buffer, instanceKey: string): ScannedEvent | undefined {
  if (value[0] !== 0x7b || !isUtf8(value)) return undefined;
  try {
    return scanTop(value, instanceKey);
  } catch (err) {
    if (err === BAIL) return undefined;
    throw err;
  }
}

/** Top-level members analytics reads (index = the order below). */
const NAMES = ['changeset', 'changesetRef', 'encryptedChangeset', 'eventType', 'instanceId', 'stateChecksum', 'timestamp', 'version', 'writerEpoch'];

function named(b: Uint8Array, s: number, e: number): number {
  for (let i = 0; i < NAMES.length; i++) if (isText(b, s, e, NAMES[i]!)) return i;
  return -1;
}

function scanTop(b: Buffer, instanceKey: string): ScannedEvent {
  let p = expect(b, 0, 0x7b);
  let eventType: string | undefined;
  let checksum: string | undefined;
  let instanceId: string | undefined;
  let version: number | undefined;
  let epoch: number | undefined;
  let timestamp: number | undefined;
  let changes = false;
  let sealed = false;
  let sealedBytes = 0;
  let ref: Record<string, unknown> | undefined;
  let ps = -1;
  let pe = -1;
  for (;;) {
    lex.exact = true;
    p = key(b, p, ps, pe);
    if (!lex.exact) throw BAIL; // duplicate, unordered or odd member names: the parse path decides
    ps = lex.keyS;
    pe = lex.keyE;
    const name = named(b, ps, pe);
    const c = b[p];
    const s = p;
    lex.escaped = false;
    const str = c === 0x22;
    const numeric = c === 0x2d || isDigit(c);
    if (name === 0) {
      if (c !== 0x5b) throw BAIL;
      p = scanChanges(b, p);
      changes = true;
    } else if (name === 1 && (c === 0x7b || c === 0x5b)) {
      p = skipValue(b, p, 1);
      ref = JSON.parse(b.toString('utf8', s, p)) as Record<string, unknown>;
    } else if (name === 2 && str) {
      p = skipString(b, p);
      sealed = true;
      sealedBytes = lex.escaped ? Buffer.byteLength(stringAt(b, s, p, true)) : p - s - 2;
    } else if (name === 3 && str) eventType = stringAt(b, s, (p = skipString(b, p)), lex.escaped);
    else if (name === 4 && str) instanceId = stringAt(b, s, (p = skipString(b, p)), lex.escaped);
    else if (name === 5 && str) checksum = stringAt(b, s, (p = skipString(b, p)), lex.escaped);
    else if (name === 6 && numeric) ((p = number(b, p)), (timestamp = lex.num));
    else if (name === 7 && numeric) ((p = number(b, p)), (version = lex.num));
    else if (name === 8 && numeric) ((p = number(b, p)), (epoch = lex.num));
    else if (name < 0 || name === 1 || name === 2) p = skipValue(b, p, 1);
    else throw BAIL; // a field analytics needs, of another type: the parse path names it
    if (b[p] === 0x7d) break;
    p = expect(b, p, 0x2c);
  }
  if (p + 1 !== b.length) throw BAIL;
  if (instanceId === undefined || eventType === undefined || checksum === undefined || version === undefined || epoch === undefined || timestamp === undefined || !changes) throw BAIL;
  if (instanceId !== instanceKey || !Number.isSafeInteger(version) || version < 1) throw BAIL;
  const plain = ref === undefined && !sealed;
  const c = current;
  if (plain && c.bad) throw BAIL;
  return {
    version,
    epoch,
    timestamp,
    eventType,
    checksum,
    changes: ref !== undefined ? Number(ref.changes ?? 0) : sealed ? 0 : c.count,
    changesetBytes: ref !== undefined ? Number(ref.bytes ?? 0) : sealed ? sealedBytes : c.bytes,
    sizeDelta: plain ? c.sizeDelta : 0,
    changeKey: plain && c.count > 0 ? hash('sha1', scratch.subarray(0, c.keyBytes), 'base64') : undefined,
    status: plain ? c.status : undefined,
    agentType: plain ? c.agentType : undefined,
    sealed,
    ref,
  };
}

/** The changeset's figures, reset per record. */
const current = { count: 0, bad: false, bytes: 0, sizeDelta: 0, status: undefined as string | undefined, agentType: undefined as string | undefined, keyBytes: 0 };

/** The changeset array at `p`: byte counts, size change, status and agent type into `current`, its key text into `scratch`. */
function scanChanges(b: Buffer, p: number): number {
  const c = current;
  c.count = 0;
  c.bad = false;
  c.bytes = 0;
  c.sizeDelta = 0;
  c.status = undefined;
  c.agentType = undefined;
  c.keyBytes = 0;
  p++;
  if (b[p] === 0x5d) return p + 1;
  for (;;) {
    c.count++;
    if (b[p] !== 0x7b) {
      c.bad = true;
      p = skipValue(b, p, 2);
    } else p = scanChange(b, p);
    if (b[p] === 0x5d) return p + 1;
    p = expect(b, p, 0x2c);
  }
}

/** One change object at `p` (CHANGE_NAMES members); adds its figures and key text to `current`. */
function scanChange(b: Buffer, p: number): number {
  let newS = -1;
  let newE = -1;
  let newExact = true;
  let oldS = -1;
  let oldE = -1;
  let oldExact = true;
  let opS = -1;
  let opE = -1;
  let pathS = -1;
  let pathE = -1;
  let oldBytes: number | undefined;
  let oddText = false;
  p++;
  if (b[p] !== 0x7d) {
    let ps = -1;
    let pe = -1;
    for (;;) {
      lex.exact = true;
      p = key(b, p, ps, pe);
      if (!lex.exact) throw BAIL;
      ps = lex.keyS;
      pe = lex.keyE;
      const s = p;
      lex.escaped = false;
      if (isText(b, ps, pe, 'oldBytes') && (b[p] === 0x2d || isDigit(b[p]))) ((p = number(b, p)), (oldBytes = lex.num));
      else p = skipValue(b, p, 3);
      if (isText(b, ps, pe, 'newValue')) ((newS = s), (newE = p), (newExact = lex.exact));
      else if (isText(b, ps, pe, 'oldValue')) ((oldS = s), (oldE = p), (oldExact = lex.exact));
      else if (isText(b, ps, pe, 'op')) ((opS = s), (opE = p), (oddText ||= lex.escaped));
      else if (isText(b, ps, pe, 'path')) ((pathS = s), (pathE = p), (oddText ||= lex.escaped));
      if (b[p] === 0x7d) break;
      p = expect(b, p, 0x2c);
    }
  }
  const c = current;
  if (pathS < 0 || opS < 0 || b[pathS] !== 0x22 || b[opS] !== 0x22) {
    c.bad = true;
    return p + 1;
  }
  if (oddText) throw BAIL; // escapes in a path or op: the parse path reads it
  const oldText = oldS >= 0 && !oldExact ? reserialised(b, oldS, oldE) : undefined;
  const newText = newS >= 0 && !newExact ? reserialised(b, newS, newE) : undefined;
  const oldLen = oldS < 0 ? (oldBytes ?? 0) : oldText !== undefined ? Buffer.byteLength(oldText) : oldE - oldS;
  const newLen = newS < 0 ? 0 : newText !== undefined ? Buffer.byteLength(newText) : newE - newS;
  const p0 = pathS + 1;
  const p1 = pathE - 1;
  c.bytes += p1 - p0 + (oldS >= 0 ? oldLen : 0) + newLen;
  c.sizeDelta += sizeChangeAt(b, p0, p1, opS + 1, opE - 1, oldLen, newLen);
  if (newS >= 0 && isText(b, p0, p1, '/status')) c.status = unquote(newText ?? b.toString('utf8', newS, newE));
  else if (newS >= 0 && isText(b, p0, p1, '/agentType')) c.agentType = unquote(newText ?? b.toString('utf8', newS, newE));

  // Key text: the path with numeric segments as '#', \0, the op, \0, the new value's text, \u0001.
  let n = c.keyBytes;
  if (scratch.length < n + (p1 - p0) + (opE - opS) + (newText !== undefined ? Buffer.byteLength(newText) : newE - newS) + 8) {
    const bigger = Buffer.allocUnsafe(2 * scratch.length + (newE - newS) + (p1 - p0) + (newText?.length ?? 0) * 3);
    scratch.copy(bigger, 0, 0, n);
    scratch = bigger;
  }
  const k = scratch;
  for (let i = p0; i < p1; i++) {
    const ch = b[i]!;
    k[n++] = ch;
    if (ch !== 0x2f) continue;
    let d = i + 1;
    while (d < p1 && isDigit(b[d])) d++;
    if (d > i + 1 && (d === p1 || b[d] === 0x2f)) {
      k[n++] = 0x23;
      i = d - 1;
    }
  }
  k[n++] = 0;
  for (let i = opS + 1; i < opE - 1; i++) k[n++] = b[i]!;
  k[n++] = 0;
  if (newText !== undefined) n += k.write(newText, n, 'utf8');
  else if (newS >= 0) n += b.copy(k, n, newS, newE);
  k[n++] = 0x01;
  c.keyBytes = n;
  return p + 1;
}

/** `sizeChange` (fact.ts) on the path and op bytes at [p0, p1) and [o0, o1). */
function sizeChangeAt(b: Uint8Array, p0: number, p1: number, o0: number, o1: number, oldLen: number, newLen: number): number {
  if (isText(b, o0, o1, 'update')) return newLen - oldLen;
  const create = isText(b, o0, o1, 'create');
  if (!create && !isText(b, o0, o1, 'delete')) return 0;
  let k = p1;
  while (k > p0 && b[k - 1] !== 0x2f) k--;
  let digits = k < p1;
  for (let j = k; j < p1 && digits; j++) digits = isDigit(b[j]);
  const member = digits ? 1 : p1 - k + 4;
  return create ? newLen + member : -(oldLen + member);
}

function unquote(text: string): string {
  return text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1) : text;
}
