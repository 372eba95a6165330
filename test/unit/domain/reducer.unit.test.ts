import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checksum } from '../../../src/domain/checksum.js';
import { InvalidInputError } from '../../../src/domain/errors.js';
import { epoch } from '../../../src/domain/ids.js';
import { canonicalJson, type JsonValue } from '../../../src/domain/json.js';
import { applyEvent, fold, step } from '../../../src/domain/reducer.js';
import { eventBetween, logThrough } from './events.js';
import { jsonObject } from './arbitraries.js';

const states = fc.array(jsonObject, { minLength: 1, maxLength: 8 });

describe('fold (Invariant 2: determinism)', () => {
  it('reaches the last state with the same checksum every time', () => {
    fc.assert(
      fc.property(states, (ss) => {
        const log = logThrough(ss);
        const first = fold(log);
        const second = fold(structuredClone(log));
        expect(first.rejected).toEqual([]);
        expect(first.projection?.version).toBe(ss.length);
        expect(first.projection?.checksum).toBe(checksum(ss[ss.length - 1]));
        expect(canonicalJson(second.projection?.state)).toBe(canonicalJson(first.projection?.state));
      }),
      { numRuns: 150 },
    );
  });

  it('folding from a mid-log projection equals folding from scratch', () => {
    fc.assert(
      fc.property(states, fc.nat(), (ss, cut) => {
        const log = logThrough(ss);
        const at = cut % log.length;
        const mid = fold(log.slice(0, at)).projection;
        const rest = fold(log.slice(at), mid);
        expect(rest.projection?.checksum).toBe(fold(log).projection?.checksum);
      }),
      { numRuns: 100 },
    );
  });

  it('applying an event twice is rejected as duplicate, never double-applied', () => {
    fc.assert(
      fc.property(states, fc.nat(), (ss, pick) => {
        const log = logThrough(ss);
        const i = pick % log.length;
        const withDup = [...log.slice(0, i + 1), log[i]!, ...log.slice(i + 1)];
        const result = fold(withDup);
        expect(result.rejected.map((r) => r.reason)).toEqual(['duplicate']);
        expect(result.projection?.checksum).toBe(fold(log).projection?.checksum);
      }),
      { numRuns: 100 },
    );
  });

  it('a missing event makes every later one a gap', () => {
    const log = logThrough([{ a: 1 }, { a: 2 }, { a: 3 }, { a: 4 }]);
    const result = fold([log[0]!, log[2]!, log[3]!]);
    expect(result.projection?.version).toBe(1);
    expect(result.rejected.map((r) => r.reason)).toEqual(['gap', 'gap']);
  });
});

describe('step', () => {
  it('rejects an event whose stateChecksum does not match, leaving the projection untouched', () => {
    const first = step(undefined, eventBetween({}, { a: 1 }, 1));
    if (!first.accept) throw new Error('first event rejected');
    const bad = { ...eventBetween({ a: 1 }, { a: 2 }, 2), stateChecksum: checksum({ a: 3 }) };
    const result = step(first.projection, bad);
    expect(result).toMatchObject({ accept: false, reason: 'checksum_mismatch' });
    expect(first.projection.state).toEqual({ a: 1 });
  });

  it('rejects a changeset that does not apply as invalid_changeset, naming the path', () => {
    const first = step(undefined, eventBetween({}, { a: 1 }, 1));
    if (!first.accept) throw new Error('first event rejected');
    const bad = { ...eventBetween({ a: 1 }, { a: 2 }, 2), changeset: [{ path: '/missing/x', op: 'update' as const, newValue: 1 }] };
    expect(step(first.projection, bad)).toMatchObject({ accept: false, reason: 'invalid_changeset', detail: expect.stringContaining('/missing/x') });
  });

  it('ownership_acquired raises the epoch and fences the old writer', () => {
    const log = logThrough([{ a: 1 }, { a: 2 }], 1);
    const takeover = eventBetween({ a: 2 }, { a: 2, owner: 'node-b' }, 3, 2, 'ownership_acquired');
    const staleWrite = eventBetween({ a: 2, owner: 'node-b' }, { a: 99, owner: 'node-b' }, 4, 1);
    const newWrite = eventBetween({ a: 2, owner: 'node-b' }, { a: 3, owner: 'node-b' }, 4, 2);
    const result = fold([...log, takeover, staleWrite, newWrite]);
    expect(result.projection).toMatchObject({ version: 4, epoch: epoch(2), state: { a: 3, owner: 'node-b' } });
    expect(result.rejected.map((r) => [r.event.version, r.reason])).toEqual([[4, 'stale_epoch']]);
  });

  it('applyEvent refuses an unknown event type', () => {
    const e = { ...eventBetween({}, { a: 1 }, 1), eventType: 'agent_teleported' as never };
    expect(() => applyEvent({} as JsonValue, e)).toThrow(InvalidInputError);
    expect(step(undefined, e)).toEqual({ accept: false, reason: 'unknown_type' });
  });
});
