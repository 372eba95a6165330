/** The robust statistics the detectors judge with (docs/analytics.md): medians, MAD-based z-scores, sums. */

/** Reused by {@link median}: the fold calls it per event, and a sorted copy per call was a hot spot. */
let scratch = new Float64Array(128);

export function median(xs: readonly number[]): number {
  const n = xs.length;
  if (n === 0) return 0;
  if (scratch.length < n) scratch = new Float64Array(n * 2);
  const s = scratch;
  // Insertion sort into the scratch array: ascending, as a numeric sort (n is at most a few dozen here).
  for (let i = 0; i < n; i++) {
    const x = xs[i]!;
    let j = i - 1;
    while (j >= 0 && s[j]! > x) {
      s[j + 1] = s[j]!;
      j--;
    }
    s[j + 1] = x;
  }
  const m = n >> 1;
  return n % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** (x - median) / (1.4826 MAD), the MAD floored so a perfectly regular baseline does not divide by zero. */
export function robustZ(x: number, base: readonly number[]): number {
  const m = median(base);
  const mad = median(base.map((v) => Math.abs(v - m)));
  const scale = Math.max(1.4826 * mad, Math.abs(m) * 0.05, 1);
  return (x - m) / scale;
}

export function sum(xs: readonly number[]): number {
  let t = 0;
  for (const x of xs) t += x;
  return t;
}
