import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeKeySegment, encodeKeySegment, MAX_KEY_SEGMENT_BYTES } from '../../../src/domain/index.js';

describe('instance ids as key segments', () => {
  it('keeps plain ids readable and escapes the rest', () => {
    expect(encodeKeySegment('demo-agent-3')).toBe('demo-agent-3');
    expect(encodeKeySegment('..')).toBe('~2E.');
    expect(encodeKeySegment('.')).toBe('~2E');
    expect(encodeKeySegment('a\\b')).toBe('a~5Cb');
    expect(encodeKeySegment('a:b ~c')).toBe('a~3Ab~20~7Ec');
    expect(encodeKeySegment('é')).toBe('~C3~A9');
  });

  it('never yields ".", "..", a separator, or a segment past the limit; reversible below it', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 256, unit: 'binary' }), (id) => {
        const s = encodeKeySegment(id);
        expect(s).not.toBe('.');
        expect(s).not.toBe('..');
        expect(s.startsWith('.')).toBe(false);
        expect(s).toMatch(/^[A-Za-z0-9_.~-]+$/);
        expect(Buffer.byteLength(s)).toBeLessThanOrEqual(MAX_KEY_SEGMENT_BYTES);
        const back = decodeKeySegment(s);
        if (back !== undefined) expect(back).toBe(Buffer.from(id, 'utf8').toString('utf8'));
        else expect(s).toContain('~~');
      }),
      { numRuns: 500 },
    );
  });

  it('long ids get distinct hashed segments', () => {
    const a = encodeKeySegment('x'.repeat(250) + 'a');
    const b = encodeKeySegment('x'.repeat(250) + 'b');
    expect(a).not.toBe(b);
    expect(decodeKeySegment(a)).toBeUndefined();
  });
});
