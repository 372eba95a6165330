/**
 * The write path as it was before issue 10, kept only as the benchmark's
 * baseline (same run, same machine): the draft was a structuredClone of the
 * whole state, the changeset a diff that compares arrays index by index, and
 * the checksum SHA-256 of the whole state's canonical JSON.
 */
import { createHash } from 'node:crypto';
import { formatPath } from '../../src/domain/paths.js';
import { canonicalJson, isJsonObject, jsonEqual, toJsonValue, type JsonValue } from '../../src/domain/json.js';
import type { Change } from '../../src/domain/changeset.js';

/** structuredClone + edit + index-by-index diff, as AgentStateClient.updateState did. */
export function draftBefore<T extends JsonValue>(base: T, recipe: (draft: T) => void): { next: JsonValue; changes: Change[] } {
  const draft = structuredClone(base);
  recipe(draft);
  const next = toJsonValue(draft);
  const out: Change[] = [];
  diffAt(base, next, [], out);
  return { next, changes: out };
}

/** SHA-256 of the whole state's canonical JSON. */
export function checksumBefore(state: JsonValue): string {
  return createHash('sha256').update(canonicalJson(state)).digest('hex');
}

function diffAt(a: JsonValue, b: JsonValue, at: (string | number)[], out: Change[]): void {
  if (a === b) return;
  if (isJsonObject(a) && isJsonObject(b)) {
    for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const inA = Object.hasOwn(a, key);
      const inB = Object.hasOwn(b, key);
      if (inA && !inB) out.push({ path: formatPath([...at, key]), op: 'delete', oldValue: a[key] as JsonValue });
      else if (!inA && inB) out.push({ path: formatPath([...at, key]), op: 'create', newValue: b[key] as JsonValue });
      else diffAt(a[key] as JsonValue, b[key] as JsonValue, [...at, key], out);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const start = out.length;
    const common = Math.min(a.length, b.length);
    for (let i = 0; i < common; i++) diffAt(a[i] as JsonValue, b[i] as JsonValue, [...at, i], out);
    for (let i = common; i < b.length; i++) out.push({ path: formatPath([...at, i]), op: 'create', newValue: b[i] as JsonValue });
    for (let i = a.length - 1; i >= common; i--) out.push({ path: formatPath([...at, i]), op: 'delete', oldValue: a[i] as JsonValue });
    if (common >= 8 && out.length - start > common / 2 && at.length > 0) {
      out.length = start;
      out.push({ path: formatPath(at), op: 'update', oldValue: a, newValue: b });
    }
    return;
  }
  if (jsonEqual(a, b)) return;
  out.push({ path: formatPath(at), op: 'update', oldValue: a, newValue: b });
}
