import { createHash } from 'node:crypto';
import { canonicalJson } from './json.js';

/**
 * SHA-256 (lowercase hex) of the canonical JSON of `state`: the `stateChecksum`
 * every event carries and the projector recomputes (DESIGN.md Invariants 2, 6).
 */
export function checksum(state: unknown): string {
  return sha256Hex(canonicalJson(state));
}

/** SHA-256 of a string (UTF-8) or bytes, lowercase hex. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** True when `value` looks like a checksum this module produces (64 lowercase hex digits). */
export function isChecksum(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);
}
