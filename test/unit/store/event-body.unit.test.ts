import { describe, expect, it } from 'vitest';
import { chatWindowEvents } from '../../../bench/lib/chat-log.js';
import { corpusEvents } from '../../../bench/lib/corpus-log.js';
import { canonicalJson, epoch, instanceId, version, type Change, type StateEvent } from '../../../src/domain/index.js';
import { joinEventBody, splitEventBody } from '../../../src/store/event-body.js';

/** An event with the given changeset and overrides. */
function event(changeset: Change[], over: Partial<StateEvent> = {}): StateEvent {
  return {
    eventId: 'e-1',
    instanceId: instanceId('agent-1'),
    version: version(2),
    writerEpoch: epoch(1),
    timestamp: 1_760_000_000_000,
    eventType: 'memory_updated',
    source: 'test',
    causationId: null,
    correlationId: 'c-1',
    changeset,
    metadata: {},
    stateChecksum: 'a'.repeat(64),
    replay: null,
    replayable: true,
    ...over,
  };
}

/** The parts of `e` put back together, which must be its canonical JSON. */
function roundTrip(e: StateEvent): string {
  const parts = splitEventBody(e);
  expect(parts).toBeDefined();
  return joinEventBody(parts!.rest, parts!.changes);
}

describe('splitEventBody / joinEventBody', () => {
  it('rebuild the exact canonical JSON of the chat-window and corpus events', () => {
    const events = [...chatWindowEvents(3, 20).flat(), ...corpusEvents(5, 10).flat()];
    for (const e of events) expect(roundTrip(e)).toBe(canonicalJson(e));
  });

  it('keep the changes as the query view writes them (path, op, values as canonical JSON text)', () => {
    const parts = splitEventBody(
      event([
        { path: '/status', op: 'update', oldValue: 'idle', newValue: { b: 1, a: [2, '3'] } },
        { path: '/x', op: 'delete', oldValue: 1 },
      ]),
    );
    expect(parts?.changes).toEqual([
      { field: '/status', changeType: 'update', oldValue: '"idle"', newValue: '{"a":[2,"3"],"b":1}' },
      { field: '/x', changeType: 'delete', oldValue: '1' },
    ]);
    expect(parts?.rest).toContain('"changeset":[]');
  });

  it('rebuild odd values exactly: integer-like keys, escapes, lone surrogates in values, exponents, -0, empty changesets', () => {
    const odd = [{ 10: 'ten', 9: 'nine', b: [{ 2: null }] }, 'quote " backslash \\ newline \n tab \t \u2028 é 😀', 'lone \ud800 surrogate and NUL \u0000 inside a value', 1e21, -0, 5e-324, [], {}, '"changeset":[]'];
    for (const v of odd) {
      const e = event([{ path: '/memory/k~1v~0', op: 'create', newValue: v as never }]);
      expect(roundTrip(e)).toBe(canonicalJson(e));
    }
    expect(roundTrip(event([]))).toBe(canonicalJson(event([])));
  });

  it('find the event own changeset when other fields hold the same text', () => {
    const e = event([{ path: '/a', op: 'create', newValue: 1 }], {
      causationId: '"changeset":[]',
      metadata: { changeset: '"changeset":[]', note: '{"changeset":[]}' },
    });
    expect(roundTrip(e)).toBe(canonicalJson(e));
  });

  it('rebuild a change whose old value the writer left out (oldBytes)', () => {
    const e = event([
      { path: '/memory/conversation/0', op: 'delete', oldBytes: 1032 },
      { path: '/memory/conversation/-', op: 'create', newValue: { id: 'm9' } },
      { path: '/status', op: 'update', oldValue: 'idle', newValue: 'running', oldBytes: 0 },
    ]);
    expect(roundTrip(e)).toBe(canonicalJson(e));
    expect(splitEventBody(e)?.changes[0]).toEqual({ field: '/memory/conversation/0', changeType: 'delete', oldBytes: 1032 });
  });

  it('keep whole what they cannot rebuild exactly: a claim-checked changeset, another key, a NUL or lone surrogate in a path or op', () => {
    expect(splitEventBody(event([], { changesetRef: { blobKey: 'changesets/a/x', sha256: 'b'.repeat(64), bytes: 10, changes: 1 } }))).toBeUndefined();
    expect(splitEventBody(event([{ path: '/a', op: 'delete', other: 12 } as unknown as Change]))).toBeUndefined();
    expect(splitEventBody(event([{ path: '/a\u0000', op: 'create', newValue: 1 }]))).toBeUndefined();
    expect(splitEventBody(event([{ path: '/a\udc00', op: 'create', newValue: 1 }]))).toBeUndefined();
  });

  it('refuse a rest that holds no empty changeset', () => {
    expect(() => joinEventBody('{"a":1}', [])).toThrow(/AS_DECODE|cannot decode stored event/);
  });
});
