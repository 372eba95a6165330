import { describe, expect, it } from 'vitest';
import { decide, type Head } from '../../../src/domain/acceptance.js';
import { epoch, version } from '../../../src/domain/ids.js';
import type { StateEventType } from '../../../src/domain/event-types.js';

const ev = (v: number, e: number, eventType: string = 'state_patched') => ({
  version: version(v),
  writerEpoch: epoch(e),
  eventType: eventType as StateEventType,
});
const head: Head = { version: 5, epoch: 2 };

describe('decide (Invariants 1 and 3)', () => {
  it('accepts exactly the next version under the current epoch', () => {
    expect(decide(head, ev(6, 2))).toEqual({ accept: true });
  });
  it('accepts only version 1 for an agent with no head', () => {
    expect(decide(undefined, ev(1, 0, 'instance_created'))).toEqual({ accept: true });
    expect(decide(undefined, ev(2, 0))).toEqual({ accept: false, reason: 'gap' });
    expect(decide(undefined, ev(0, 0))).toEqual({ accept: false, reason: 'duplicate' });
  });
  it('rejects gaps and duplicates', () => {
    expect(decide(head, ev(7, 2))).toEqual({ accept: false, reason: 'gap' });
    expect(decide(head, ev(5, 2))).toEqual({ accept: false, reason: 'duplicate' });
    expect(decide(head, ev(1, 2))).toEqual({ accept: false, reason: 'duplicate' });
  });
  it('a redelivered old event is a duplicate whatever its epoch', () => {
    expect(decide(head, ev(5, 1))).toEqual({ accept: false, reason: 'duplicate' });
  });
  it('fences writers with a lower epoch', () => {
    expect(decide(head, ev(6, 1))).toEqual({ accept: false, reason: 'stale_epoch' });
  });
  it('only ownership_acquired raises the epoch, and only upwards', () => {
    expect(decide(head, ev(6, 3, 'ownership_acquired'))).toEqual({ accept: true });
    expect(decide(head, ev(6, 2, 'ownership_acquired'))).toEqual({ accept: false, reason: 'stale_epoch' });
    expect(decide(head, ev(6, 3))).toEqual({ accept: false, reason: 'epoch_not_acquired' });
  });
  it('rejects unknown event types before anything else', () => {
    expect(decide(head, ev(6, 2, 'agent_teleported'))).toEqual({ accept: false, reason: 'unknown_type' });
  });
});
