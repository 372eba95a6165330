import type { Type } from 'avsc';
import { DecodeError } from './errors.js';

/** Limits the guard enforces on a body before avsc decodes it. */
export interface AvroGuardLimits {
  /** Most array items + map entries in one record. @default 1_000_000 */
  maxItems: number;
  /** Deepest nesting of records/arrays/maps/unions. @default 64 */
  maxDepth: number;
}

export const DEFAULT_AVRO_GUARD_LIMITS: AvroGuardLimits = { maxItems: 1_000_000, maxDepth: 64 };

interface AvroTypeLike {
  readonly typeName: string;
  readonly fields?: readonly { readonly type: AvroTypeLike }[];
  readonly itemsType?: AvroTypeLike;
  readonly valuesType?: AvroTypeLike;
  readonly types?: readonly AvroTypeLike[];
  readonly symbols?: readonly string[];
  readonly size?: number;
  readonly underlyingType?: AvroTypeLike;
}

/**
 * Walks an Avro binary body against its writer type and checks every declared
 * length, count and index against the bytes actually present, without
 * allocating anything. avsc trusts declared block counts (`new Array(n)` and an
 * `n`-step loop even when the buffer is exhausted), so a 6-byte corrupt record
 * could otherwise hang a consumer or exhaust its heap; this runs first.
 * Throws {@link DecodeError} naming the offset and the problem.
 */
export function guardAvroBody(type: Type, buf: Uint8Array, limits: AvroGuardLimits = DEFAULT_AVRO_GUARD_LIMITS): void {
  const walker = new Walker(buf, limits);
  walker.walk(type as unknown as AvroTypeLike, 0);
  if (walker.pos !== buf.length) {
    throw new DecodeError('avro body', `${buf.length - walker.pos} trailing bytes after the record at offset ${walker.pos}`);
  }
}

class Walker {
  pos = 0;
  private items = 0;
  private readonly minSizes = new Map<AvroTypeLike, number>();

  constructor(
    private readonly buf: Uint8Array,
    private readonly limits: AvroGuardLimits,
  ) {}

  walk(type: AvroTypeLike, depth: number): void {
    if (depth > this.limits.maxDepth) this.fail(`nesting deeper than ${this.limits.maxDepth}`);
    const name = type.typeName;
    if (name.startsWith('logical:')) return this.walk(type.underlyingType as AvroTypeLike, depth);
    switch (name) {
      case 'null':
        return;
      case 'boolean':
        return this.skipBytes(1);
      case 'int':
      case 'long':
        this.readLong();
        return;
      case 'float':
        return this.skipBytes(4);
      case 'double':
        return this.skipBytes(8);
      case 'string':
      case 'bytes':
        return this.skipBytes(this.readLength('string/bytes length'));
      case 'fixed':
        return this.skipBytes(type.size ?? 0);
      case 'enum': {
        const index = this.readLong();
        const count = type.symbols?.length ?? 0;
        if (index < 0 || index >= count) this.fail(`enum index ${index} out of range 0..${count - 1}`);
        return;
      }
      case 'union:unwrapped':
      case 'union:wrapped': {
        const branches = type.types ?? [];
        const index = this.readLong();
        const branch = branches[index];
        if (branch === undefined) this.fail(`union branch ${index} out of range 0..${branches.length - 1}`);
        return this.walk(branch, depth + 1);
      }
      case 'record':
      case 'error':
        for (const field of type.fields ?? []) this.walk(field.type, depth + 1);
        return;
      case 'array':
        return this.blocks(type.itemsType as AvroTypeLike, false, depth);
      case 'map':
        return this.blocks(type.valuesType as AvroTypeLike, true, depth);
      default:
        this.fail(`unsupported Avro type ${name}`);
    }
  }

  /** Arrays and maps are sequences of blocks: count, [byte size if count < 0], items; a 0 count ends. */
  private blocks(item: AvroTypeLike, isMap: boolean, depth: number): void {
    const minItem = (isMap ? 1 : 0) + this.minSize(item);
    for (;;) {
      let count = this.readLong();
      if (count === 0) return;
      if (count < 0) {
        count = -count;
        this.readLength('block byte size');
      }
      const remaining = this.buf.length - this.pos;
      // Each item takes at least minItem bytes, so a count the rest of the buffer cannot hold is a lie.
      if (minItem > 0 && count > remaining / minItem) {
        this.fail(`block declares ${count} items but only ${remaining} bytes remain`);
      }
      this.items += count;
      if (this.items > this.limits.maxItems) this.fail(`more than ${this.limits.maxItems} array/map items`);
      for (let i = 0; i < count; i++) {
        if (isMap) this.skipBytes(this.readLength('map key length'));
        this.walk(item, depth + 1);
      }
    }
  }

  /** Smallest possible encoding of a type, in bytes (0 for null and empty records). */
  private minSize(type: AvroTypeLike, seen: Set<AvroTypeLike> = new Set()): number {
    const cached = this.minSizes.get(type);
    if (cached !== undefined) return cached;
    if (seen.has(type)) return 0; // recursive type: count conservatively
    seen.add(type);
    let size: number;
    const name = type.typeName;
    if (name.startsWith('logical:')) size = this.minSize(type.underlyingType as AvroTypeLike, seen);
    else if (name === 'null') size = 0;
    else if (name === 'float') size = 4;
    else if (name === 'double') size = 8;
    else if (name === 'fixed') size = type.size ?? 0;
    else if (name === 'record' || name === 'error') {
      size = 0;
      for (const field of type.fields ?? []) size += this.minSize(field.type, seen);
    } else if (name.startsWith('union')) {
      size = 1 + Math.min(...(type.types ?? []).map((t) => this.minSize(t, seen)));
    } else size = 1; // boolean, int, long, string, bytes, enum, array, map
    this.minSizes.set(type, size);
    return size;
  }

  private readLength(what: string): number {
    const len = this.readLong();
    if (len < 0) this.fail(`negative ${what} ${len}`);
    if (len > this.buf.length - this.pos) this.fail(`${what} ${len} exceeds the ${this.buf.length - this.pos} bytes left`);
    return len;
  }

  /** Zig-zag varint, at most 10 bytes; rejects running off the end. */
  private readLong(): number {
    let result = 0;
    let factor = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) this.fail('truncated varint');
      const b = this.buf[this.pos++] as number;
      result += (b & 0x7f) * factor;
      if ((b & 0x80) === 0) return result % 2 === 1 ? -(result + 1) / 2 : result / 2;
      factor *= 128;
    }
    return this.fail('varint longer than 10 bytes');
  }

  private skipBytes(n: number): void {
    if (n > this.buf.length - this.pos) this.fail(`truncated: need ${n} bytes, ${this.buf.length - this.pos} left`);
    this.pos += n;
  }

  private fail(problem: string): never {
    throw new DecodeError('avro body', `${problem} (at offset ${this.pos})`);
  }
}
