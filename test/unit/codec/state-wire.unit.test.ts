import avro from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadSchema } from '../../../src/codec/schemas.js';
import { stateFromWire, stateToWire, type WireAgentState } from '../../../src/codec/state-wire.js';
import { generateState } from '../../../src/corpus/generate.js';
import { checksum } from '../../../src/domain/checksum.js';
import { stateAsJson } from '../../../src/domain/state.js';
import { jsonObject } from '../domain/arbitraries.js';

const type = avro.Type.forSchema(loadSchema('AgentState') as avro.Schema);
const head = { instanceId: 'agent-1', version: 9, writerEpoch: 2, stateChecksum: 'x', updatedAt: 1_760_000_000_000 };

function roundTrip(state: Parameters<typeof stateToWire>[0]) {
  return stateFromWire(type.fromBuffer(type.toBuffer(stateToWire(state, head))) as WireAgentState);
}

describe('AgentState wire mapping', () => {
  it('is lossless for a realistic state: same checksum after Avro and back', () => {
    const state = stateAsJson(generateState({ seed: 2, targetBytes: 30_000 }));
    const wire = stateToWire(state, head);
    expect(wire.status).toBe('running');
    expect(wire.agentType).toBe('assistant');
    expect(checksum(roundTrip(state))).toBe(checksum(state));
  });

  it('is lossless for arbitrary top-level JSON (odd types in typed fields go to extensions)', () => {
    fc.assert(
      fc.property(jsonObject, fc.oneof(fc.constant(undefined), fc.string(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null)), (base, odd) => {
        const state = { ...base, ...(odd === undefined ? {} : { status: odd, createdAt: odd, memory: odd }) };
        expect(checksum(roundTrip(state))).toBe(checksum(state));
      }),
      { numRuns: 200 },
    );
  });

  it('keeps integers avsc cannot encode exactly as a long out of createdAt (found by the property above)', () => {
    // avsc's long takes integers in [-2^52, 2^52] only: beyond, it refuses to write or decodes another number.
    for (const n of [-4503599627370497, -(2 ** 53) + 1, -(2 ** 52), 2 ** 52, 2 ** 52 + 1, Number.MAX_SAFE_INTEGER, 1e300]) {
      const state = { createdAt: n, status: 'running' };
      expect(roundTrip(state), String(n)).toEqual(state);
      expect(checksum(roundTrip(state))).toBe(checksum(state));
    }
    expect(stateToWire({ createdAt: -(2 ** 52) - 1 }, head).createdAt).toBeNull();
    expect(stateToWire({ createdAt: 2 ** 52 + 1 }, head).createdAt).toBeNull();
    expect(stateToWire({ createdAt: -(2 ** 52) }, head).createdAt).toBe(-(2 ** 52));
  });

  it('leaves the body out when claim-checked', () => {
    const state = stateAsJson(generateState({ seed: 2, targetBytes: 5_000 }));
    const wire = stateToWire(state, head, { uri: 's3://b/k', checksum: 'c', sizeBytes: 5000, compression: 'lz4', keyId: null });
    expect(wire.memory).toBeNull();
    expect(type.isValid(wire)).toBe(true);
    expect(stateFromWire(wire)).toBeUndefined();
  });
});
