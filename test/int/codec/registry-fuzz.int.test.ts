import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AgentStateError } from '../../../src/errors.js';
import { eventToWire } from '../../../src/codec/event-wire.js';
import { RegistryCodec } from '../../../src/codec/registry.js';
import { loadSchema } from '../../../src/codec/schemas.js';
import { generateEvents } from '../../../src/corpus/events.js';
import { stackEnv, uniqueName } from '../../support/env.js';

describe('RegistryCodec.decode under fuzzing (real registry)', () => {
  it('random and mutated frames give typed errors or a record, never a crash or a hang', async () => {
    const codec = new RegistryCodec({ url: stackEnv().schemaRegistryUrl });
    const id = await codec.register(uniqueName('fuzz-value'), loadSchema('StateEvent'));
    const frames = await Promise.all(generateEvents(4, 5, 8_000).map((e) => codec.encode(id, eventToWire(e))));
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(fc.nat(frames.length - 1), fc.array(fc.tuple(fc.integer({ min: 5, max: 100_000 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.boolean()),
        async ([which, edits, truncate]) => {
          let frame = Buffer.from(frames[which]!);
          // Keep the 5-byte header (so the cached schema is used); mutate the body.
          for (const [at, v] of edits) frame[5 + (at % (frame.length - 5))] = v;
          if (truncate) frame = frame.subarray(0, 5 + (edits[0]![0] % (frame.length - 5)));
          try {
            await codec.decode(frame);
            return true;
          } catch (error) {
            return error instanceof AgentStateError && error.code === 'AS_DECODE';
          }
        },
      ),
      { numRuns: 1000 },
    );
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
