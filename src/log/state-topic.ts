import type { BodyEncoding } from '../codec/state-body.js';
import type { LogPosition } from './port.js';

/**
 * Value of a record on the compacted `<prefix>state` topic (DESIGN.md The
 * shape): the latest full state, or a claim check pointing at the blob store
 * when the state is large. JSON, so any consumer can read it. `position` is
 * the events-topic record this state reflects: a reader that starts from this
 * value folds that agent's events after it, and only those.
 */
export type StateTopicValue = (StateTopicBase & { state: unknown }) | ClaimCheckedStateValue;

/** A state-topic value whose state is in the blob store. */
export type ClaimCheckedStateValue = StateTopicBase & { claimCheck: { blobKey: string; encoding: BodyEncoding } };

interface StateTopicBase {
  instanceId: string;
  version: number;
  epoch: number;
  checksum: string;
  updatedAt: number;
  position: LogPosition;
}

/**
 * Parses a state-topic value; `undefined` for a value this reader cannot use
 * (not JSON, written before `position` existed, or malformed) so the caller
 * falls back to folding that agent's events from the start.
 */
export function parseStateTopicValue(bytes: Buffer): StateTopicValue | undefined {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const p = o.position as Record<string, unknown> | undefined;
  const ok =
    typeof o.instanceId === 'string' &&
    Number.isSafeInteger(o.version) &&
    Number.isSafeInteger(o.epoch) &&
    typeof o.checksum === 'string' &&
    typeof p === 'object' &&
    p !== null &&
    Number.isSafeInteger(p.partition) &&
    typeof p.offset === 'string' &&
    /^\d+$/.test(p.offset) &&
    ('state' in o || (typeof o.claimCheck === 'object' && o.claimCheck !== null));
  return ok ? (o as unknown as StateTopicValue) : undefined;
}
