/**
 * How array `a` becomes array `b`, item by item, in order: the edit script
 * the changeset diff turns into JSON Pointer changes. Common prefix and
 * suffix first (cheap, and all that an append or a truncation needs), then
 * Myers' O(ND) shortest edit script on the middle, so dropping the oldest
 * message of a chat window is one `delete` and appending one `create`, not a
 * replacement of every later item. Deletes and inserts left side by side in
 * one gap are paired, so an item edited in place is diffed inside.
 */
export type ArrayEdit = { op: 'keep'; a: number; b: number } | { op: 'pair'; a: number; b: number } | { op: 'delete'; a: number } | { op: 'insert'; b: number };

/**
 * Most edits Myers searches for before giving up on the middle (then items
 * are paired by position, as a plain index-by-index diff would). Bounds the
 * O((N+M)·D) worst case of a wholly rewritten array.
 */
export const MAX_EDIT_DISTANCE = 128;

/**
 * The edit script from `a` to `b` under `same(i, j)` (a[i] equals b[j]).
 * Deterministic: same inputs, same script.
 */
export function arrayEdits<T>(a: readonly T[], b: readonly T[], same: (x: T, y: T) => boolean): ArrayEdit[] {
  const out: ArrayEdit[] = [];
  let start = 0;
  const min = Math.min(a.length, b.length);
  while (start < min && same(a[start] as T, b[start] as T)) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && same(a[endA - 1] as T, b[endB - 1] as T)) {
    endA--;
    endB--;
  }
  for (let i = 0; i < start; i++) out.push({ op: 'keep', a: i, b: i });
  const middle = myers(endA - start, endB - start, (x, y) => same(a[start + x] as T, b[start + y] as T));
  if (middle === undefined) {
    const n = endA - start;
    const m = endB - start;
    for (let i = 0; i < Math.min(n, m); i++) out.push({ op: 'pair', a: start + i, b: start + i });
    for (let i = m; i < n; i++) out.push({ op: 'delete', a: start + i });
    for (let j = n; j < m; j++) out.push({ op: 'insert', b: start + j });
  } else {
    pairGaps(middle, start, out);
  }
  for (let i = 0; i < a.length - endA; i++) out.push({ op: 'keep', a: endA + i, b: endB + i });
  return out;
}

type Step = 0 | 1 | 2; // keep, delete, insert

/**
 * Myers' greedy forward search; returns the script (keep/delete/insert per
 * step) or undefined when more than {@link MAX_EDIT_DISTANCE} edits are needed.
 */
function myers(n: number, m: number, eq: (x: number, y: number) => boolean): Step[] | undefined {
  if (n === 0 && m === 0) return [];
  const limit = Math.min(n + m, MAX_EDIT_DISTANCE);
  const off = limit + 1;
  const v = new Int32Array(2 * limit + 3);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= limit; d++) {
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && (v[off + k - 1] as number) < (v[off + k + 1] as number)) ? (v[off + k + 1] as number) : (v[off + k - 1] as number) + 1;
      let y = x - k;
      while (x < n && y < m && eq(x, y)) {
        x++;
        y++;
      }
      v[off + k] = x;
      if (x >= n && y >= m) {
        trace.push(v.slice());
        return backtrack(trace, n, m, off);
      }
    }
    trace.push(v.slice());
  }
  return undefined;
}

function backtrack(trace: Int32Array[], n: number, m: number, off: number): Step[] {
  const steps: Step[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d > 0; d--) {
    const prev = trace[d - 1] as Int32Array;
    const k = x - y;
    const down = k === -d || (k !== d && (prev[off + k - 1] as number) < (prev[off + k + 1] as number));
    const prevK = down ? k + 1 : k - 1;
    const prevX = prev[off + prevK] as number;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      steps.push(0);
      x--;
      y--;
    }
    steps.push(down ? 2 : 1);
    x = prevX;
    y = prevY;
  }
  while (x > 0 && y > 0) {
    steps.push(0);
    x--;
    y--;
  }
  return steps.reverse();
}

/** Turns steps into edits; within each run between kept items, deletes and inserts are paired first. */
function pairGaps(steps: Step[], start: number, out: ArrayEdit[]): void {
  let x = start;
  let y = start;
  let i = 0;
  while (i < steps.length) {
    if (steps[i] === 0) {
      out.push({ op: 'keep', a: x++, b: y++ });
      i++;
      continue;
    }
    const dels: number[] = [];
    const ins: number[] = [];
    while (i < steps.length && steps[i] !== 0) {
      if (steps[i] === 1) dels.push(x++);
      else ins.push(y++);
      i++;
    }
    const pairs = Math.min(dels.length, ins.length);
    for (let p = 0; p < pairs; p++) out.push({ op: 'pair', a: dels[p] as number, b: ins[p] as number });
    for (let p = pairs; p < dels.length; p++) out.push({ op: 'delete', a: dels[p] as number });
    for (let p = pairs; p < ins.length; p++) out.push({ op: 'insert', b: ins[p] as number });
  }
}
