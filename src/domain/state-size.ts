import type { Change } from './changeset.js';
import { canonicalJson } from './json.js';

/**
 * Estimated change of the state's canonical JSON size by one change
 * (docs/analytics.md, State size): a member `"key":value,` appears or goes
 * (key taken from the path's last segment, plus quotes, colon and a
 * separator; 1 for an array element); an update swaps one value for another.
 * Exact up to separators. `oldLen` and `newLen` are the UTF-8 bytes of the
 * values' canonical JSON.
 */
export function sizeChange(path: string, op: string, oldLen: number, newLen: number): number {
  if (op === 'update') return newLen - oldLen;
  const key = path.slice(path.lastIndexOf('/') + 1);
  const member = /^\d+$/.test(key) ? 1 : Buffer.byteLength(key) + 4;
  if (op === 'create') return newLen + member;
  if (op === 'delete') return -(oldLen + member);
  return 0;
}

/** {@link sizeChange} summed over a changeset (an old value left out counts its `oldBytes`). */
export function changesetSizeDelta(changes: readonly Change[]): number {
  let delta = 0;
  for (const c of changes) {
    const oldLen = c.oldValue !== undefined ? Buffer.byteLength(canonicalJson(c.oldValue)) : (c.oldBytes ?? 0);
    const newLen = c.newValue !== undefined ? Buffer.byteLength(canonicalJson(c.newValue)) : 0;
    delta += sizeChange(c.path, c.op, oldLen, newLen);
  }
  return delta;
}
