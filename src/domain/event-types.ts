/**
 * The seed's `StateEventType`, its 13 names exactly and in its order
 * (../shared/seed, "State Events Collection"; DESIGN.md State, events,
 * versions). Who emits each one is in docs/domain.md ("Event types").
 */
export const SEED_EVENT_TYPES = [
  'instance_created',
  'status_changed',
  'configuration_updated',
  'capability_added',
  'capability_removed',
  'task_assigned',
  'task_completed',
  'error_occurred',
  'resource_allocated',
  'resource_deallocated',
  'snapshot_created',
  'migration_started',
  'migration_completed',
] as const;

/** Types the design adds after the seed's (DESIGN.md State, events, versions). */
export const DESIGN_EVENT_TYPES = ['task_failed', 'memory_updated', 'performance_updated', 'state_patched', 'state_rolled_back', 'ownership_acquired', 'heartbeat', 'state_erased'] as const;

/**
 * Every event type, in Avro enum order (`schemas/StateEvent.avsc`): the
 * seed's 13, then ours. Append only, never reorder (BACKWARD evolution).
 */
export const STATE_EVENT_TYPES = [...SEED_EVENT_TYPES, ...DESIGN_EVENT_TYPES] as const;

/** One of {@link STATE_EVENT_TYPES}. */
export type StateEventType = (typeof STATE_EVENT_TYPES)[number];

/** One of the seed's 13 {@link SEED_EVENT_TYPES}. */
export type SeedEventType = (typeof SEED_EVENT_TYPES)[number];

const known: ReadonlySet<string> = new Set(STATE_EVENT_TYPES);

/** True when `value` is a known event type (an unknown one is rejected, never guessed at). */
export function isStateEventType(value: unknown): value is StateEventType {
  return typeof value === 'string' && known.has(value);
}
