import { InvalidInputError } from '../../errors.js';

const MAX_OFFSET = (1n << 63n) - 1n;

/**
 * Parses a decimal offset string into a bigint (offsets are 64-bit; a JS
 * number loses precision past 2^53, STYLE.md habit 6).
 */
export function parseOffset(value: string, what = 'offset'): bigint {
  if (typeof value !== 'string' || !/^\d{1,19}$/.test(value)) {
    throw new InvalidInputError(what, `must be a decimal string of a non-negative 64-bit integer, got ${JSON.stringify(value)}`);
  }
  const n = BigInt(value);
  if (n > MAX_OFFSET) throw new InvalidInputError(what, `${value} is larger than 2^63-1`);
  return n;
}

/** An INTEGER column read with safe integers (bigint), or a number, as a decimal string. */
export function offsetString(value: bigint | number): string {
  return typeof value === 'bigint' ? value.toString() : BigInt(value).toString();
}

/** A small INTEGER column (partition, timestamp) read as bigint, as a number. */
export function toNumber(value: bigint | number): number {
  return typeof value === 'bigint' ? Number(value) : value;
}
