/**
 * The JSON lexer of the analytics scan (scan.ts): validates JSON's grammar
 * over a record's bytes without building values. Each function takes the
 * bytes and a position and returns the position after what it read (locals
 * and arguments, which V8 keeps in registers, in the per-byte loops); what
 * is rare goes to `lex`. Anything that is not JSON throws BAIL.
 */
export class Bail {}
export const BAIL = new Bail();

/** What the lexer noticed, for its caller. */
export const lex = {
  /** False once the value being skipped is not in JSON.stringify's form. */
  exact: true,
  /** True once a string skipped has an escape. */
  escaped: false,
  /** The last number read. */
  num: 0,
  /** The last key's span (without quotes). */
  keyS: 0,
  keyE: 0,
};

export const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;
const isHex = (c: number | undefined): boolean => c !== undefined && (isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
const MAX_DEPTH = 512;

export function expect(b: Uint8Array, p: number, c: number): number {
  if (b[p] !== c) throw BAIL;
  return p + 1;
}

/** `p` at the opening quote. */
export function skipString(b: Uint8Array, p: number): number {
  p++;
  for (;;) {
    const c = b[p];
    if (c === 0x22) return p + 1;
    if (c === undefined || c < 0x20) throw BAIL; // the end, or a control character
    if (c !== 0x5c) {
      p++;
      continue;
    }
    lex.escaped = true;
    const e = b[p + 1];
    if (e === 0x22 || e === 0x5c || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) p += 2;
    else if (e === 0x2f) {
      lex.exact = false;
      p += 2;
    } else if (e === 0x75 && isHex(b[p + 2]) && isHex(b[p + 3]) && isHex(b[p + 4]) && isHex(b[p + 5])) {
      lex.exact = false;
      p += 6;
    } else throw BAIL;
  }
}

/** A number token (JSON's grammar) into `lex.num`; clears `lex.exact` unless JSON.stringify writes it so. */
export function number(b: Buffer, p: number): number {
  const s = p;
  const neg = b[p] === 0x2d;
  if (neg) p++;
  const d0 = p;
  if (b[p] === 0x30) p++;
  else if (isDigit(b[p])) while (isDigit(b[p])) p++;
  else throw BAIL;
  let int = true;
  if (b[p] === 0x2e) {
    int = false;
    if (!isDigit(b[++p])) throw BAIL;
    while (isDigit(b[p])) p++;
  }
  if (b[p] === 0x65 || b[p] === 0x45) {
    int = false;
    p++;
    if (b[p] === 0x2b || b[p] === 0x2d) p++;
    if (!isDigit(b[p])) throw BAIL;
    while (isDigit(b[p])) p++;
  }
  if (int && p - d0 <= 15) {
    let v = 0;
    for (let k = d0; k < p; k++) v = v * 10 + (b[k]! - 0x30);
    if (neg && v === 0) lex.exact = false;
    lex.num = neg ? -v : v;
    return p;
  }
  const token = b.toString('latin1', s, p);
  lex.num = Number(token);
  if (String(lex.num) !== token) lex.exact = false;
  return p;
}

export function literal(b: Uint8Array, p: number, text: string): number {
  for (let k = 0; k < text.length; k++) if (b[p + k] !== text.charCodeAt(k)) throw BAIL;
  return p + text.length;
}

/**
 * An object member's key and colon at `p`, its span into lex.keyS/lex.keyE. Clears
 * `lex.exact` for what JSON.stringify(JSON.parse(...)) would not give back: an
 * integer-like key (put first), a duplicate (the last kept); keys in
 * increasing order (ASCII, unescaped, after [prevS, prevE)) have neither.
 */
export function key(b: Uint8Array, p: number, prevS: number, prevE: number): number {
  if (b[p] !== 0x22) throw BAIL;
  const s = p + 1;
  const wasEscaped = lex.escaped;
  lex.escaped = false;
  p = skipString(b, p);
  const e = p - 1;
  if (lex.escaped || s === e || isDigit(b[s])) lex.exact = false;
  else if (prevS >= 0) {
    let k = 0;
    const n = Math.min(e - s, prevE - prevS);
    while (k < n && b[s + k] === b[prevS + k]) k++;
    if (k < n ? b[s + k]! < b[prevS + k]! : e - s <= prevE - prevS) lex.exact = false;
  }
  for (let k = s; k < e; k++) if (b[k]! >= 0x80) lex.exact = false;
  lex.escaped = wasEscaped;
  lex.keyS = s;
  lex.keyE = e;
  return expect(b, p, 0x3a);
}

export function skipValue(b: Buffer, p: number, depth: number): number {
  if (depth > MAX_DEPTH) throw BAIL;
  const c = b[p];
  if (c === 0x22) return skipString(b, p);
  if (c === 0x7b) {
    p++;
    if (b[p] === 0x7d) return p + 1;
    let ps = -1;
    let pe = -1;
    for (;;) {
      p = key(b, p, ps, pe);
      ps = lex.keyS;
      pe = lex.keyE;
      p = skipValue(b, p, depth + 1);
      if (b[p] === 0x7d) return p + 1;
      p = expect(b, p, 0x2c);
    }
  }
  if (c === 0x5b) {
    p++;
    if (b[p] === 0x5d) return p + 1;
    for (;;) {
      p = skipValue(b, p, depth + 1);
      if (b[p] === 0x5d) return p + 1;
      p = expect(b, p, 0x2c);
    }
  }
  if (c === 0x74) return literal(b, p, 'true');
  if (c === 0x66) return literal(b, p, 'false');
  if (c === 0x6e) return literal(b, p, 'null');
  if (c === 0x2d || isDigit(c)) return number(b, p);
  throw BAIL;
}

/** A string value at [s, e) (quotes included): its bytes when unescaped, else as JSON.parse reads it. */
export function stringAt(b: Buffer, s: number, e: number, wasEscaped: boolean): string {
  return wasEscaped ? (JSON.parse(b.toString('utf8', s, e)) as string) : b.toString('utf8', s + 1, e - 1);
}

/** The value at [s, e) as JSON.stringify(JSON.parse(...)) writes it. */
export function reserialised(b: Buffer, s: number, e: number): string {
  return JSON.stringify(JSON.parse(b.toString('utf8', s, e)));
}

export function isText(b: Uint8Array, s: number, e: number, text: string): boolean {
  if (e - s !== text.length) return false;
  for (let k = 0; k < text.length; k++) if (b[s + k] !== text.charCodeAt(k)) return false;
  return true;
}
