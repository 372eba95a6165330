import { performance } from 'node:perf_hooks';
import { canonicalJson, type JsonValue } from '../domain/json.js';
import { COMPRESSED_HEADER_SIZE, COMPRESSION_ALGORITHMS, compressSync, decompressSync, type CompressionAlgorithm, type CompressionOptions } from './compression.js';

/** How to trade size against speed when choosing an algorithm per state (DESIGN.md Snapshots). */
export type CompressionPolicy = 'fastest' | 'balanced' | 'smallest';

/** One algorithm's measurement over a set of inputs. */
export interface CompressionMeasurement {
  algorithm: CompressionAlgorithm;
  originalBytes: number;
  /** Bytes of the frames, header included. */
  compressedBytes: number;
  /** 1 - compressed/original: 0.75 means 75 % smaller. */
  savings: number;
  /** original/compressed. */
  ratio: number;
  compressMBps: number;
  decompressMBps: number;
}

/** Options of {@link selectOptimal} and {@link benchmark}. */
export interface SelectOptions extends CompressionOptions {
  /** Algorithms to consider. @default every one but 'none' */
  algorithms?: readonly CompressionAlgorithm[];
  /** `balanced` takes the smallest output among algorithms compressing at least this fast. @default 40 */
  balancedMinMBps?: number;
  /** Below this many bytes compression is not worth its header. @default 256 */
  minBytes?: number;
  /** Repeat each measurement until this many milliseconds have passed (steadier numbers). @default 0 */
  minMillis?: number;
}

const MB = 1024 * 1024;

function asBytes(input: JsonValue | Uint8Array | string): Buffer {
  if (typeof input === 'string') return Buffer.from(input, 'utf8');
  if (input instanceof Uint8Array) return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  return Buffer.from(canonicalJson(input), 'utf8');
}

function timed(minMillis: number, run: () => void): number {
  let runs = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    run();
    runs++;
    elapsed = performance.now() - start;
  } while (elapsed < minMillis);
  return elapsed / runs;
}

/**
 * Measures every algorithm on `inputs` (states are measured as their canonical
 * JSON, which is what snapshots store): size, ratio, MB/s both ways. Each
 * round trip is verified, so a benchmark never reports a broken codec.
 */
export function benchmark(inputs: readonly (JsonValue | Uint8Array | string)[], options: SelectOptions = {}): CompressionMeasurement[] {
  const datas = inputs.map(asBytes);
  const algorithms = options.algorithms ?? COMPRESSION_ALGORITHMS.filter((a) => a !== 'none');
  const minMillis = options.minMillis ?? 0;
  const original = datas.reduce((n, d) => n + d.length, 0);
  return algorithms.map((algorithm) => {
    let compressed = 0;
    let cMs = 0;
    let dMs = 0;
    for (const data of datas) {
      let frame: Buffer = Buffer.alloc(0);
      cMs += timed(minMillis, () => {
        frame = compressSync(data, algorithm, options);
      });
      compressed += frame.length;
      let out: Buffer = Buffer.alloc(0);
      dMs += timed(minMillis, () => {
        out = decompressSync(frame, { maxOriginalBytes: Math.max(data.length, 1) });
      });
      if (!out.equals(data)) throw new Error(`${algorithm} round trip changed the data`);
    }
    return {
      algorithm,
      originalBytes: original,
      compressedBytes: compressed,
      savings: original === 0 ? 0 : 1 - compressed / original,
      ratio: compressed === 0 ? 0 : original / compressed,
      compressMBps: original / MB / Math.max(cMs / 1000, 1e-9),
      decompressMBps: original / MB / Math.max(dMs / 1000, 1e-9),
    };
  });
}

/**
 * Picks the algorithm for a state from a sample of it (or of similar states):
 * - `fastest`: highest compress MB/s among algorithms that shrink the sample;
 * - `smallest`: smallest output;
 * - `balanced`: smallest output among algorithms compressing at least
 *   `balancedMinMBps`, else the fastest.
 * Inputs under `minBytes`, or that no algorithm shrinks, get `'none'`.
 * Timing-based policies depend on the machine; `smallest` depends only on the data.
 */
export function selectOptimal(sample: JsonValue | Uint8Array | string, policy: CompressionPolicy = 'balanced', options: SelectOptions = {}): CompressionAlgorithm {
  const data = asBytes(sample);
  if (data.length < (options.minBytes ?? 256)) return 'none';
  const rows = benchmark([data], options).filter((r) => r.compressedBytes < data.length + COMPRESSED_HEADER_SIZE && r.compressedBytes < data.length);
  if (rows.length === 0) return 'none';
  const smallest = (rs: CompressionMeasurement[]) => rs.reduce((a, b) => (b.compressedBytes < a.compressedBytes ? b : a));
  const fastest = (rs: CompressionMeasurement[]) => rs.reduce((a, b) => (b.compressMBps > a.compressMBps ? b : a));
  if (policy === 'smallest') return smallest(rows).algorithm;
  if (policy === 'fastest') return fastest(rows).algorithm;
  const quick = rows.filter((r) => r.compressMBps >= (options.balancedMinMBps ?? 40));
  return quick.length > 0 ? smallest(quick).algorithm : fastest(rows).algorithm;
}
