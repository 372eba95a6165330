import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DESIGN_EVENT_TYPES, SEED_EVENT_TYPES, STATE_EVENT_TYPES } from '../../../src/domain/index.js';

/** The seed's `enum StateEventType`, in its order (../shared/seed, "State Events Collection"). */
const SEED = [
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
];

describe('event types', () => {
  it('are the seed 13 exactly and in order, then the design additions', () => {
    expect([...SEED_EVENT_TYPES]).toEqual(SEED);
    expect([...STATE_EVENT_TYPES]).toEqual([...SEED, ...DESIGN_EVENT_TYPES]);
    expect(new Set(STATE_EVENT_TYPES).size).toBe(STATE_EVENT_TYPES.length);
    expect(STATE_EVENT_TYPES).not.toContain('agent_created');
    expect(STATE_EVENT_TYPES).not.toContain('state_migrated');
  });

  it('equal the Avro enum symbols of schemas/StateEvent.avsc, in order', () => {
    const schema = JSON.parse(readFileSync(new URL('../../../schemas/StateEvent.avsc', import.meta.url), 'utf8')) as {
      fields: Array<{ name: string; type: unknown; default?: unknown }>;
    };
    const field = schema.fields.find((f) => f.name === 'eventType');
    expect((field?.type as { symbols: string[] }).symbols).toEqual([...STATE_EVENT_TYPES]);
    const replayable = schema.fields.find((f) => f.name === 'replayable');
    expect(replayable).toMatchObject({ type: 'boolean', default: true });
  });
});
