import { InvalidPathError } from './errors.js';

/** Most segments a changeset path may have (deeper than any real state; stops hostile input early). */
export const MAX_PATH_SEGMENTS = 256;
/** Longest changeset path accepted, in characters. */
export const MAX_PATH_LENGTH = 4096;

/**
 * Splits a JSON Pointer (RFC 6901) into unescaped segments: `""` is the whole
 * state, `/a/b~1c/0` is `["a", "b/c", "0"]`. Used for every changeset path so
 * that Java, Python or Go readers of the topic can apply changesets with a
 * stock JSON Pointer library.
 * @throws InvalidPathError when the path does not start with `/`, has a bad
 *   `~` escape, or exceeds {@link MAX_PATH_SEGMENTS} / {@link MAX_PATH_LENGTH}
 */
export function parsePath(path: string): string[] {
  if (typeof path !== 'string') throw new InvalidPathError(String(path), 'not a string');
  if (path === '') return [];
  if (path.length > MAX_PATH_LENGTH) throw new InvalidPathError(path.slice(0, 64) + '…', `longer than ${MAX_PATH_LENGTH} characters`);
  if (path[0] !== '/') throw new InvalidPathError(path, "must be empty or start with '/'");
  const raw = path.slice(1).split('/');
  if (raw.length > MAX_PATH_SEGMENTS) throw new InvalidPathError(path, `more than ${MAX_PATH_SEGMENTS} segments`);
  return raw.map((segment, i) => {
    if (/~(?![01])/.test(segment)) {
      throw new InvalidPathError(path, `segment ${i} ${JSON.stringify(segment)} has a '~' not followed by 0 or 1`);
    }
    return segment.replace(/~1/g, '/').replace(/~0/g, '~');
  });
}

/** Joins segments into a JSON Pointer, escaping `~` and `/`. Inverse of {@link parsePath}. */
export function formatPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) out += '/' + String(s).replace(/~/g, '~0').replace(/\//g, '~1');
  return out;
}

/**
 * Reads an array index segment: canonical decimal (`0`, `17`, not `01`, `-1`,
 * `1.0`) within `0..max`, or `-` (one past the end) when `allowEnd`.
 * @throws InvalidPathError naming the segment
 */
export function arrayIndex(path: string, segment: string, length: number, allowEnd: boolean): number {
  if (segment === '-' && allowEnd) return length;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(segment)) {
    throw new InvalidPathError(path, `${JSON.stringify(segment)} is not an array index`);
  }
  const index = Number(segment);
  const max = allowEnd ? length : length - 1;
  if (index > max) throw new InvalidPathError(path, `index ${index} out of range 0..${max} (array length ${length})`);
  return index;
}
