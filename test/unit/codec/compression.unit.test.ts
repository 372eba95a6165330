import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COMPRESSED_HEADER_SIZE, COMPRESSION_ALGORITHMS, compress, compressState, compressSync, decompress, decompressState, decompressSync, readCompressedHeader } from '../../../src/codec/compression.js';
import { benchmark, selectOptimal } from '../../../src/codec/compression-select.js';
import { DecodeError } from '../../../src/codec/errors.js';
import { generateState } from '../../../src/corpus/generate.js';
import { Random } from '../../../src/corpus/random.js';
import { ChecksumMismatchError, InvalidInputError, TooLargeError } from '../../../src/domain/errors.js';
import { canonicalJson } from '../../../src/domain/json.js';
import { checksum, sha256Hex } from '../../../src/domain/checksum.js';
import { stateAsJson } from '../../../src/domain/state.js';

const state = stateAsJson(generateState({ seed: 11, targetBytes: 60_000 }));
const bytes = Buffer.from(canonicalJson(state));

describe.each(COMPRESSION_ALGORITHMS)('%s frames', (algorithm) => {
  it('round-trip a realistic state, sync and async', async () => {
    const frame = await compressState(state, algorithm);
    expect(checksum(await decompressState(frame))).toBe(checksum(state));
    expect(decompressSync(compressSync(bytes, algorithm)).equals(bytes)).toBe(true);
    expect((await decompress(compressSync(bytes, algorithm))).equals(bytes)).toBe(true);
  });

  it('record algorithm, sizes and the SHA-256 of the original in the header', async () => {
    const frame = await compress(bytes, algorithm);
    expect(readCompressedHeader(frame)).toEqual({
      formatVersion: 1,
      algorithm,
      originalSize: bytes.length,
      compressedSize: frame.length - COMPRESSED_HEADER_SIZE,
      checksum: sha256Hex(bytes),
    });
  });

  it('round-trip arbitrary bytes, including empty', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (data) => {
        expect(decompressSync(compressSync(data, algorithm)).equals(Buffer.from(data))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('refuse a truncated frame', () => {
    const frame = compressSync(bytes, algorithm);
    expect(() => decompressSync(frame.subarray(0, frame.length - 1))).toThrow(/truncated or padded/);
    expect(() => decompressSync(frame.subarray(0, 20))).toThrow(/shorter than the 56-byte header/);
  });

  it('detect a flipped bit in the body: DecodeError or ChecksumMismatchError, never wrong data', () => {
    const frame = compressSync(bytes, algorithm);
    for (const at of [COMPRESSED_HEADER_SIZE + 3, Math.floor((frame.length + COMPRESSED_HEADER_SIZE) / 2), frame.length - 2]) {
      const bad = Buffer.from(frame);
      bad[at]! ^= 0x10;
      let thrown: unknown;
      try {
        decompressSync(bad);
      } catch (error) {
        thrown = error;
      }
      expect(thrown instanceof DecodeError || thrown instanceof ChecksumMismatchError).toBe(true);
    }
  });
});

describe('frame header checks', () => {
  const frame = compressSync(bytes, 'gzip');
  it('refuses a wrong magic, version or algorithm id', () => {
    const badMagic = Buffer.from(frame);
    badMagic[0] = 0x58;
    expect(() => decompressSync(badMagic)).toThrow(/bad magic/);
    const badVersion = Buffer.from(frame);
    badVersion[4] = 9;
    expect(() => decompressSync(badVersion)).toThrow(/unsupported format version 9/);
    const badAlgo = Buffer.from(frame);
    badAlgo[5] = 42;
    expect(() => decompressSync(badAlgo)).toThrow(/unknown algorithm id 42/);
  });

  it('refuses a declared original size over the limit before allocating it', () => {
    const huge = Buffer.from(frame);
    huge.writeBigUInt64BE(2n ** 40n, 8);
    expect(() => decompressSync(huge)).toThrow(TooLargeError);
    expect(() => decompressSync(frame, { maxOriginalBytes: 1000 })).toThrow(TooLargeError);
  });

  it('refuses a body that inflates past the declared size (a decompression bomb)', () => {
    const zeros = Buffer.alloc(2_000_000);
    for (const algorithm of ['gzip', 'brotli', 'lz4', 'snappy'] as const) {
      const bomb = compressSync(zeros, algorithm);
      bomb.writeBigUInt64BE(1000n, 8);
      expect(() => decompressSync(bomb), algorithm).toThrow(DecodeError);
    }
  });

  it('rejects an unknown algorithm name', () => {
    expect(() => compressSync(bytes, 'zstd' as never)).toThrow(InvalidInputError);
  });
});

describe('fuzzing decompress (no crash, no hang, typed errors only)', () => {
  const seeds = COMPRESSION_ALGORITHMS.map((a) => compressSync(bytes.subarray(0, 3000), a));
  const typed = (e: unknown) => e instanceof DecodeError || e instanceof ChecksumMismatchError || e instanceof TooLargeError;

  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        try {
          decompressSync(data);
          return false; // random bytes are never a valid frame
        } catch (error) {
          return typed(error);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('mutated valid frames', () => {
    fc.assert(
      fc.property(fc.nat(seeds.length - 1), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (which, edits) => {
        const frame = Buffer.from(seeds[which]!);
        for (const [at, value] of edits) frame[at % frame.length] = value;
        try {
          const out = decompressSync(frame);
          // Survived mutation (e.g. a byte set to its own value): must be the original.
          return out.equals(bytes.subarray(0, 3000));
        } catch (error) {
          return typed(error);
        }
      }),
      { numRuns: 600 },
    );
  });
});

describe('selectOptimal and benchmark', () => {
  it('measures every algorithm with honest sizes', () => {
    const rows = benchmark([state]);
    expect(rows.map((r) => r.algorithm)).toEqual(['lz4', 'gzip', 'snappy', 'brotli']);
    for (const r of rows) {
      expect(r.originalBytes).toBe(bytes.length);
      expect(r.compressedBytes).toBe(compressSync(bytes, r.algorithm).length);
      expect(r.savings).toBeCloseTo(1 - r.compressedBytes / r.originalBytes, 10);
    }
  });

  it('smallest picks the smallest frame; tiny or incompressible inputs get none', () => {
    const rows = benchmark([state]);
    const best = rows.reduce((a, b) => (b.compressedBytes < a.compressedBytes ? b : a));
    expect(selectOptimal(state, 'smallest')).toBe(best.algorithm);
    expect(selectOptimal({ a: 1 }, 'balanced')).toBe('none');
    const rnd = new Random(99);
    const noise = Buffer.from(Array.from({ length: 4096 }, () => rnd.int(0, 255)));
    expect(selectOptimal(noise, 'smallest')).toBe('none');
  });

  it('fastest and balanced return an algorithm that shrinks the state', () => {
    for (const policy of ['fastest', 'balanced'] as const) {
      const algo = selectOptimal(state, policy);
      expect(algo).not.toBe('none');
      expect(compressSync(bytes, algo).length).toBeLessThan(bytes.length);
    }
  });
});
