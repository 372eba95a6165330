import { ConfigError } from '../errors.js';

/**
 * The checks a resolve function runs once at the boundary, after laying the
 * caller's options over its defaults object (STYLE.md habit 5, issue 13).
 */

/** `value` when it is a positive safe integer. @throws ConfigError naming `field` */
export function positiveInt(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new ConfigError(field, `${value} is not a positive integer`);
  return value;
}

/** `value` when it is a finite number above 0. @throws ConfigError naming `field` */
export function positiveNumber(value: number, field: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new ConfigError(field, `${value} is not a positive number`);
  return value;
}

/** `value` when it is a finite number of at least 0. @throws ConfigError naming `field` */
export function nonNegativeNumber(value: number, field: string): number {
  if (!Number.isFinite(value) || value < 0) throw new ConfigError(field, `${value} is not a number of at least 0`);
  return value;
}

/** `value` when it is a safe integer of at least 0. @throws ConfigError naming `field` */
export function nonNegativeInt(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new ConfigError(field, `${value} is not an integer >= 0`);
  return value;
}
