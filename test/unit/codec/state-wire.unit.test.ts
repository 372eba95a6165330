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

  it('leaves the body out when claim-checked', () => {
    const state = stateAsJson(generateState({ seed: 2, targetBytes: 5_000 }));
    const wire = stateToWire(state, head, { uri: 's3://b/k', checksum: 'c', sizeBytes: 5000, compression: 'lz4', keyId: null });
    expect(wire.memory).toBeNull();
    expect(type.isValid(wire)).toBe(true);
    expect(stateFromWire(wire)).toBeUndefined();
  });
});
