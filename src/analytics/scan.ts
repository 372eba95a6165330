import { isUtf8 } from 'node:buffer';
import { hash } from 'node:crypto';

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
  changes: number;
  changesetBytes: number;
  sizeDelta: number;
  changeKey: string | undefined;
  status: string | undefined;
  agentType: string | undefined;
  sealed: boolean;
  /** The `changesetRef` as JSON.parse reads it, when it is an object (claim-checked). */
  ref: Record<string, unknown> | undefined;
}

class Bail {}
const BAIL = new Bail();
const bail = (): never => {
  throw BAIL;
};

// The scanner's cursor: one record at a time, synchronously.
let buf: Buffer = Buffer.alloc(0);
let len = 0;
let pos = 0;
/** False once the value being skipped is not in JSON.stringify's form. */
let exact = true;
/** True once a string skipped has an escape. */
let escaped = false;
/** Bytes hashed into the changeset's key (grown on demand). */
let scratch = Buffer.allocUnsafe(1 << 16);

const at = (p: number): number => buf[p] ?? -1;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
const MAX_DEPTH = 512;

export function scanEvent(value: Buffer, key: string): ScannedEvent | undefined {
  if (value[0] !== 0x7b || !isUtf8(value)) return undefined;
  buf = value;
  len = value.length;
  pos = 0;
  try {
    return scanTop(key);
  } catch (err) {
    if (err === BAIL) return undefined;
    throw err;
  } finally {
    buf = Buffer.alloc(0);
  }
}

function expect(c: number): void {
  if (at(pos) !== c) bail();
  pos++;
}

function skipString(): void {
  let p = pos + 1;
  for (;;) {
    const c = at(p);
    if (c === 0x22) break;
    if (c < 0x20) bail(); // a control character, or the end
    if (c !== 0x5c) {
      p++;
      continue;
    }
    escaped = true;
    const e = at(p + 1);
    if (e === 0x22 || e === 0x5c || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) p += 2;
    else if (e === 0x2f) (exact = false), (p += 2);
    else if (e === 0x75) {
      for (let k = p + 2; k < p + 6; k++) if (!isHex(at(k))) bail();
      exact = false;
      p += 6;
    } else bail();
  }
  pos = p + 1;
}

/** Reads a number token (JSON's grammar); clears `exact` unless JSON.stringify writes it so. */
function number(): number {
  const s = pos;
  let p = pos;
  const neg = at(p) === 0x2d;
  if (neg) p++;
  const d0 = p;
  if (at(p) === 0x30) p++;
  else if (isDigit(at(p))) while (isDigit(at(p))) p++;
  else bail();
  let int = true;
  if (at(p) === 0x2e) {
    int = false;
    if (!isDigit(at(++p))) bail();
    while (isDigit(at(p))) p++;
  }
  if (at(p) === 0x65 || at(p) === 0x45) {
    int = false;
    p++;
    if (at(p) === 0x2b || at(p) === 0x2d) p++;
    if (!isDigit(at(p))) bail();
    while (isDigit(at(p))) p++;
  }
  pos = p;
  if (int && p - d0 <= 15) {
    let v = 0;
    for (let k = d0; k < p; k++) v = v * 10 + (buf[k]! - 0x30);
    if (neg && v === 0) exact = false;
    return neg ? -v : v;
  }
  const token = buf.toString('latin1', s, p);
  const v = Number(token);
  if (String(v) !== token) exact = false;
  return v;
}

function literal(text: string): void {
  for (let k = 0; k < text.length; k++) if (at(pos + k) !== text.charCodeAt(k)) bail();
  pos += text.length;
}

/** True when the key at [s, e) (no quotes) sorts after [ps, pe) by bytes (ASCII keys: the code-unit order). */
function after(s: number, e: number, ps: number, pe: number): boolean {
  if (ps < 0) return true;
  const n = Math.min(e - s, pe - ps);
  for (let k = 0; k < n; k++) {
    const d = buf[s + k]! - buf[ps + k]!;
    if (d !== 0) return d > 0;
  }
  return e - s > pe - ps;
}

/** Skips an object member's key and colon; returns the key's span (no quotes). The key's oddities clear `exact`. */
function key(prevS: number, prevE: number): [number, number] {
  if (at(pos) !== 0x22) bail();
  const s = pos + 1;
  escaped = false;
  skipString();
  const e = pos - 1;
  // JSON.stringify(JSON.parse(...)) puts integer-like keys first and keeps the last of duplicates;
  // keys in increasing order (ASCII, unescaped) have neither.
  if (escaped || s === e || isDigit(buf[s]!) || !after(s, e, prevS, prevE)) exact = false;
  else for (let k = s; k < e; k++) if (buf[k]! >= 0x80) exact = false;
  expect(0x3a);
  return [s, e];
}

function skipValue(depth: number): void {
  if (depth > MAX_DEPTH) bail();
  const c = at(pos);
  if (c === 0x22) return skipString();
  if (c === 0x7b) {
    pos++;
    if (at(pos) === 0x7d) return void pos++;
    let [ps, pe] = [-1, -1];
    for (;;) {
      [ps, pe] = key(ps, pe);
      skipValue(depth + 1);
      if (at(pos) === 0x7d) return void pos++;
      expect(0x2c);
    }
  }
  if (c === 0x5b) {
    pos++;
    if (at(pos) === 0x5d) return void pos++;
    for (;;) {
      skipValue(depth + 1);
      if (at(pos) === 0x5d) return void pos++;
      expect(0x2c);
    }
  }
  if (c === 0x74) return literal('true');
  if (c === 0x66) return literal('false');
  if (c === 0x6e) return literal('null');
  if (c === 0x2d || isDigit(c)) return void number();
  bail();
}

/** A string value's text: its bytes when unescaped, else as JSON.parse reads it. */
function stringAt(s: number, e: number, wasEscaped: boolean): string {
  return wasEscaped ? (JSON.parse(buf.toString('utf8', s, e)) as string) : buf.toString('utf8', s + 1, e - 1);
}

/** Top-level member names, as bytes. */
const NAMES = ['changeset', 'changesetRef', 'encryptedChangeset', 'eventType', 'instanceId', 'stateChecksum', 'timestamp', 'version', 'writerEpoch'] as const;
type Name = (typeof NAMES)[number];
const NAME_BYTES = NAMES.map((n) => Buffer.from(n));

function named(s: number, e: number): Name | undefined {
  for (let i = 0; i < NAMES.length; i++) {
    const b = NAME_BYTES[i]!;
    if (b.length !== e - s) continue;
    let k = 0;
    while (k < b.length && b[k] === buf[s + k]) k++;
    if (k === b.length) return NAMES[i];
  }
  return undefined;
}

function scanTop(instanceKey: string): ScannedEvent {
  expect(0x7b);
  const strings: Partial<Record<Name, string>> = {};
  const numbers: Partial<Record<Name, number>> = {};
  let changes: Changes | undefined;
  let sealed = false;
  let sealedBytes = 0;
  let ref: Record<string, unknown> | undefined;
  let [ps, pe] = [-1, -1];
  for (;;) {
    exact = true;
    [ps, pe] = key(ps, pe);
    if (!exact) bail(); // duplicate, unordered or odd member names: the parse path decides
    const name = named(ps, pe);
    const c = at(pos);
    const s = pos;
    escaped = false;
    if (name === 'changeset') {
      if (c !== 0x5b) bail();
      changes = scanChanges();
    } else if (name === 'changesetRef' && (c === 0x7b || c === 0x5b)) {
      skipValue(1);
      ref = JSON.parse(buf.toString('utf8', s, pos)) as Record<string, unknown>;
    } else if (name === 'encryptedChangeset' && c === 0x22) {
      skipString();
      sealed = true;
      sealedBytes = escaped ? Buffer.byteLength(stringAt(s, pos, true)) : pos - s - 2;
    } else if ((name === 'instanceId' || name === 'eventType' || name === 'stateChecksum') && c === 0x22) {
      skipString();
      strings[name] = stringAt(s, pos, escaped);
    } else if ((name === 'version' || name === 'writerEpoch' || name === 'timestamp') && (c === 0x2d || isDigit(c))) {
      numbers[name] = number();
    } else if (name === undefined || name === 'changesetRef' || name === 'encryptedChangeset') {
      skipValue(1);
    } else bail(); // a field analytics needs, of another type
    if (at(pos) === 0x7d) break;
    expect(0x2c);
  }
  if (++pos !== len) bail();
  const { instanceId, eventType, stateChecksum } = strings;
  const { version, writerEpoch, timestamp } = numbers;
  if (instanceId === undefined || eventType === undefined || stateChecksum === undefined || version === undefined || writerEpoch === undefined || timestamp === undefined || !changes) bail();
  if (instanceId !== instanceKey || !Number.isSafeInteger(version) || version! < 1) bail();
  const plain = ref === undefined && !sealed;
  if (plain && changes!.bad) bail();
  return {
    version: version!,
    epoch: writerEpoch!,
    timestamp: timestamp!,
    eventType: eventType!,
    checksum: stateChecksum!,
    changes: ref !== undefined ? Number(ref.changes ?? 0) : sealed ? 0 : changes!.count,
    changesetBytes: ref !== undefined ? Number(ref.bytes ?? 0) : sealed ? sealedBytes : changes!.bytes,
    sizeDelta: plain ? changes!.sizeDelta : 0,
    changeKey: plain && changes!.count > 0 ? changes!.key : undefined,
    status: plain ? changes!.status : undefined,
    agentType: plain ? changes!.agentType : undefined,
    sealed,
    ref,
  };
}

interface Changes {
  count: number;
  /** An item the parse path refuses (not an object, no string path or op): fatal unless sealed or claim-checked. */
  bad: boolean;
  bytes: number;
  sizeDelta: number;
  status: string | undefined;
  agentType: string | undefined;
  /** sha1 (base64) of the key text; '' when there is none. */
  key: string;
}

const CHANGE_NAMES = ['newValue', 'oldBytes', 'oldValue', 'op', 'path'] as const;
const CHANGE_BYTES = CHANGE_NAMES.map((n) => Buffer.from(n));
const OPS = ['create', 'update', 'delete'].map((o) => Buffer.from(o));

function changeName(s: number, e: number): number {
  for (let i = 0; i < CHANGE_BYTES.length; i++) {
    const b = CHANGE_BYTES[i]!;
    if (b.length !== e - s) continue;
    let k = 0;
    while (k < b.length && b[k] === buf[s + k]) k++;
    if (k === b.length) return i;
  }
  return -1;
}

function ensureScratch(n: number): void {
  if (scratch.length >= n) return;
  const bigger = Buffer.allocUnsafe(Math.max(n, scratch.length * 2));
  scratch.copy(bigger);
  scratch = bigger;
}

/** The changeset array at `pos`: byte counts, size change, status and agent type, and the bytes of its key. */
function scanChanges(): Changes {
  const out: Changes = { count: 0, bad: false, bytes: 0, sizeDelta: 0, status: undefined, agentType: undefined, key: '' };
  let n = 0; // bytes of the key text in `scratch`
  pos++;
  if (at(pos) === 0x5d) {
    pos++;
    return out;
  }
  for (;;) {
    out.count++;
    if (at(pos) !== 0x7b) {
      out.bad = true;
      skipValue(2);
    } else n = scanChange(out, n);
    if (at(pos) === 0x5d) break;
    expect(0x2c);
  }
  pos++;
  if (!out.bad) out.key = hash('sha1', scratch.subarray(0, n), 'base64');
  return out;
}

/** One change object at `pos`; adds its figures to `out` and its key text at `scratch[n..]`; returns the new `n`. */
function scanChange(out: Changes, n: number): number {
  pos++;
  const span = [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1]; // [s, e) per CHANGE_NAMES entry
  const exactOf = [true, true, true, true, true];
  let oldBytes: number | undefined;
  let pathEscaped = false;
  let opEscaped = false;
  if (at(pos) !== 0x7d) {
    let [ps, pe] = [-1, -1];
    for (;;) {
      exact = true;
      [ps, pe] = key(ps, pe);
      if (!exact) bail();
      const i = changeName(ps, pe);
      const s = pos;
      escaped = false;
      if (i === 1 && (at(pos) === 0x2d || isDigit(at(pos)))) oldBytes = number();
      else skipValue(3);
      if (i >= 0) {
        span[2 * i] = s;
        span[2 * i + 1] = pos;
        exactOf[i] = exact;
        if (i === 3) opEscaped = escaped;
        if (i === 4) pathEscaped = escaped;
      }
      if (at(pos) === 0x7d) break;
      expect(0x2c);
    }
  }
  pos++;
  const [newS, newE, , , oldS, oldE, opS, opE, pathS, pathE] = span as [number, number, number, number, number, number, number, number, number, number];
  if (pathS < 0 || opS < 0 || buf[pathS] !== 0x22 || buf[opS] !== 0x22) {
    out.bad = true;
    return n;
  }
  if (pathEscaped || opEscaped) bail();
  const text = (s: number, e: number, ex: boolean): string => (ex ? buf.toString('utf8', s, e) : JSON.stringify(JSON.parse(buf.toString('utf8', s, e))));
  const oldInexact = oldS >= 0 && !exactOf[2] ? text(oldS, oldE, false) : undefined;
  const newInexact = newS >= 0 && !exactOf[0] ? text(newS, newE, false) : undefined;
  const oldLen = oldS < 0 ? (oldBytes ?? 0) : oldInexact !== undefined ? Buffer.byteLength(oldInexact) : oldE - oldS;
  const newLen = newS < 0 ? 0 : newInexact !== undefined ? Buffer.byteLength(newInexact) : newE - newS;
  const p0 = pathS + 1;
  const p1 = pathE - 1;
  out.bytes += p1 - p0 + (oldS >= 0 ? oldLen : 0) + newLen;
  out.sizeDelta += sizeChangeAt(p0, p1, opS + 1, opE - 1, oldLen, newLen);
  if (newS >= 0 && isPath(p0, p1, '/status')) out.status = unquote(newInexact ?? text(newS, newE, true));
  else if (newS >= 0 && isPath(p0, p1, '/agentType')) out.agentType = unquote(newInexact ?? text(newS, newE, true));

  // Key text: path with numeric segments as '#', \0, op, \0, the new value's text, \u0001.
  ensureScratch(n + (p1 - p0) + (opE - opS) + (newInexact !== undefined ? Buffer.byteLength(newInexact) : newE - newS) + 8);
  for (let k = p0; k < p1; k++) {
    const c = buf[k]!;
    scratch[n++] = c;
    if (c !== 0x2f) continue;
    let d = k + 1;
    while (d < p1 && isDigit(buf[d]!)) d++;
    if (d > k + 1 && (d === p1 || buf[d] === 0x2f)) {
      scratch[n++] = 0x23;
      k = d - 1;
    }
  }
  scratch[n++] = 0;
  for (let k = opS + 1; k < opE - 1; k++) scratch[n++] = buf[k]!;
  scratch[n++] = 0;
  if (newInexact !== undefined) n += scratch.write(newInexact, n, 'utf8');
  else if (newS >= 0) n += buf.copy(scratch, n, newS, newE);
  scratch[n++] = 0x01;
  return n;
}

function isPath(s: number, e: number, path: string): boolean {
  if (e - s !== path.length) return false;
  for (let k = 0; k < path.length; k++) if (buf[s + k] !== path.charCodeAt(k)) return false;
  return true;
}

/** `sizeChange` (fact.ts) on the path and op bytes at [p0, p1) and [o0, o1). */
function sizeChangeAt(p0: number, p1: number, o0: number, o1: number, oldLen: number, newLen: number): number {
  let op = -1;
  for (let i = 0; i < OPS.length && op < 0; i++) if (OPS[i]!.length === o1 - o0 && OPS[i]!.equals(buf.subarray(o0, o1))) op = i;
  if (op === 1) return newLen - oldLen;
  if (op < 0) return 0;
  let k = p1;
  while (k > p0 && buf[k - 1] !== 0x2f) k--;
  let digits = k < p1;
  for (let j = k; j < p1 && digits; j++) digits = isDigit(buf[j]!);
  const member = digits ? 1 : p1 - k + 4;
  return op === 0 ? newLen + member : -(oldLen + member);
}

function unquote(text: string): string {
  return text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1) : text;
}
