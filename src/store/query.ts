import { InvalidInputError } from '../errors.js';
import type { StateFilter } from './port.js';

/** {@link StateFilter.limit} when none is given. */
export const DEFAULT_QUERY_LIMIT = 100;
export const MAX_QUERY_LIMIT = 1000;

/** A validated filter, shared by the adapters so both refuse the same input. */
export interface CheckedFilter {
  status?: string;
  capability?: string;
  agentType?: string;
  updatedSince?: number;
  limit: number;
  /** Ids strictly after this one (decoded cursor). */
  afterId?: string;
}

/**
 * Validates a filter.
 * @throws AgentStateError AS_INVALID_INPUT naming the bad field
 */
export function checkFilter(filter: StateFilter = {}): CheckedFilter {
  const bad = (field: string, why: string): InvalidInputError => new InvalidInputError(`query ${field}`, why);
  const out: CheckedFilter = { limit: filter.limit ?? DEFAULT_QUERY_LIMIT };
  for (const f of ['status', 'capability', 'agentType'] as const) {
    const v = filter[f];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v === '') throw bad(f, 'must be a non-empty string');
    out[f] = v;
  }
  if (filter.updatedSince !== undefined) {
    if (!Number.isSafeInteger(filter.updatedSince)) throw bad('updatedSince', 'must be a time in ms (an integer)');
    out.updatedSince = filter.updatedSince;
  }
  if (!Number.isSafeInteger(out.limit) || out.limit < 1 || out.limit > MAX_QUERY_LIMIT) throw bad('limit', `must be an integer 1..${MAX_QUERY_LIMIT}`);
  if (filter.cursor !== undefined) out.afterId = decodeCursor(filter.cursor);
  return out;
}

/**
 * Validates a page size, the same way on every adapter; undefined or 0 mean no
 * limit (as MongoDB's `limit(0)`).
 * @throws AgentStateError AS_INVALID_INPUT on a negative or fractional limit
 */
export function checkLimit(limit: number | undefined, what: string): number | undefined {
  if (limit === undefined || limit === 0) return undefined;
  if (!Number.isSafeInteger(limit) || limit < 0) throw new InvalidInputError(what, `limit must be a non-negative integer, got ${limit}`);
  return limit;
}

/** Cursors are opaque to callers: base64url of `a:<last instanceId>`. */
export function encodeCursor(lastId: string): string {
  return Buffer.from(`a:${lastId}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: unknown): string {
  if (typeof cursor === 'string' && /^[A-Za-z0-9_-]+$/.test(cursor)) {
    const text = Buffer.from(cursor, 'base64url').toString('utf8');
    if (text.startsWith('a:') && text.length > 2) return text.slice(2);
  }
  throw new InvalidInputError('query cursor', `${JSON.stringify(cursor)} is not one a query returned`);
}
