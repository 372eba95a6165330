import { InvalidInputError } from '../errors.js';
import type { ConsumeOptions } from './port.js';

/** Consume options every adapter refuses the same way (the contract suite checks it). @returns maxBatchRecords with its default */
export function checkConsumeOptions(options: ConsumeOptions): number {
  if (!options.group) throw new InvalidInputError('consume options', 'group is required');
  if (!Array.isArray(options.topics) || options.topics.length === 0) throw new InvalidInputError('consume options', 'at least one topic is required');
  const max = options.maxBatchRecords ?? 500;
  if (!Number.isInteger(max) || max < 1) throw new InvalidInputError('consume options', 'maxBatchRecords must be a positive integer');
  const session = options.sessionTimeoutMs;
  if (session !== undefined && (!Number.isInteger(session) || session < 1)) throw new InvalidInputError('consume options', 'sessionTimeoutMs must be a positive integer');
  return max;
}
