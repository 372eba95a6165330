/**
 * Event types of the seed's `StateEventType` (13), then the five this design
 * adds (DESIGN.md State, events, versions). The order is the Avro enum order in
 * `schemas/StateEvent.avsc`: append only, never reorder (BACKWARD evolution).
 */
export const SEED_EVENT_TYPES = [
  'agent_created',
  'status_changed',
  'task_assigned',
  'task_completed',
  'task_failed',
  'error_occurred',
  'capability_added',
  'capability_removed',
  'configuration_updated',
  'resource_allocated',
  'memory_updated',
  'performance_updated',
  'state_migrated',
] as const;

/** Types the design adds to the seed's list. */
export const DESIGN_EVENT_TYPES = [
  'state_patched',
  'state_rolled_back',
  'ownership_acquired',
  'heartbeat',
  'state_erased',
] as const;

/** Every event type, in Avro enum order. */
export const STATE_EVENT_TYPES = [...SEED_EVENT_TYPES, ...DESIGN_EVENT_TYPES] as const;

/** One of {@link STATE_EVENT_TYPES}. */
export type StateEventType = (typeof STATE_EVENT_TYPES)[number];

const known: ReadonlySet<string> = new Set(STATE_EVENT_TYPES);

/** True when `value` is a known event type (an unknown one is rejected, never guessed at). */
export function isStateEventType(value: unknown): value is StateEventType {
  return typeof value === 'string' && known.has(value);
}
