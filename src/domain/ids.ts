import { InvalidInputError } from './errors.js';

declare const brand: unique symbol;
/** A nominal tag on a primitive, so an `Epoch` cannot be passed where a `Version` is expected (STYLE.md habit 6). */
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Identifies one agent instance; the Kafka key of every topic (DESIGN.md: keyed by instanceId). */
export type InstanceId = Brand<string, 'InstanceId'>;
/** Per-agent event version: 1 for the first event, previous + 1 after (DESIGN.md Invariant 1). */
export type Version = Brand<number, 'Version'>;
/** Writer epoch: raised by `ownership_acquired`, fences older writers (DESIGN.md Invariant 3). */
export type Epoch = Brand<number, 'Epoch'>;

/** Longest instance id accepted, in UTF-16 units; ids are Kafka keys, Mongo `_id`s and S3 key parts. */
export const MAX_INSTANCE_ID_LENGTH = 256;

/**
 * Validates and brands an instance id: 1..256 characters, no control
 * characters and no `/` (ids become S3 key segments and file names).
 * @throws InvalidInputError naming the problem
 */
export function instanceId(value: string): InstanceId {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidInputError('instanceId', 'must be a non-empty string');
  if (value.length > MAX_INSTANCE_ID_LENGTH) {
    throw new InvalidInputError('instanceId', `is ${value.length} characters, the limit is ${MAX_INSTANCE_ID_LENGTH}`);
  }
  if (/[\u0000-\u001f\u007f/]/.test(value)) {
    throw new InvalidInputError('instanceId', `${JSON.stringify(value)} contains a control character or '/'`);
  }
  return value as InstanceId;
}

/** Brands a version: a safe non-negative integer (0 means "nothing applied yet"). @throws InvalidInputError */
export function version(value: number): Version {
  return counter('version', value) as Version;
}

/** Brands an epoch: a safe non-negative integer. @throws InvalidInputError */
export function epoch(value: number): Epoch {
  return counter('epoch', value) as Epoch;
}

function counter(what: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(what, `${String(value)} is not a non-negative safe integer`);
  }
  return value;
}
