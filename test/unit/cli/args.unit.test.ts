import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseAt, parseDuration, positionalArgs, setLongTimeout, UsageError } from '../../../src/cli/args.js';

describe('CLI argument parsing', () => {
  it('--at takes a whole version or an ISO 8601 time, nothing else', () => {
    const now = Date.parse('2026-12-01T00:00:00Z');
    expect(parseAt('5', '--at', now)).toEqual({ version: 5 });
    expect(parseAt('2026-11-29T10:00:00Z', '--at', now)).toEqual({ time: Date.parse('2026-11-29T10:00:00Z') });
    expect(parseAt('2026-11-29T10:00:00.123+01:00', '--at', now)).toEqual({ time: Date.parse('2026-11-29T09:00:00.123Z') });
    expect(parseAt('2026-11-29', '--at', now)).toEqual({ time: Date.parse('2026-11-29') });
    for (const bad of ['3.5', 'hello 5', '0', '-1', '1e3', 'Nov 29 2026', '2026-13-45T99:00:00Z', '']) {
      expect(() => parseAt(bad, '--at', now), bad).toThrow(UsageError);
    }
    expect(() => parseAt('3.5', '--at', now)).toThrow(/neither a whole version number nor an ISO 8601 time/);
    expect(() => parseAt('2027-01-01T00:00:00Z', '--at', now)).toThrow(/in the future/);
  });

  it('--duration is capped at a year instead of overflowing the timer', () => {
    expect(parseDuration('10s', '--duration')).toBe(10_000);
    expect(parseDuration('600h', '--duration')).toBe(600 * 3_600_000);
    expect(() => parseDuration('9000h', '--duration')).toThrow(/longer than the maximum/);
    expect(() => parseDuration('10 parsecs', '--duration')).toThrow(UsageError);
  });

  it('extra and missing positional arguments are usage errors', () => {
    expect(positionalArgs(['a', '5'], ['instanceId', 'version'], 'u')).toEqual(['a', '5']);
    expect(() => positionalArgs(['a'], ['instanceId', 'version'], 'u')).toThrow(/missing <version>/);
    expect(() => positionalArgs(['a', '5', 'x'], ['instanceId', 'version'], 'u')).toThrow(/unexpected argument "x"/);
    expect(() => positionalArgs(['x'], [], 'u')).toThrow(/unexpected argument "x"/);
  });

  describe('setLongTimeout', () => {
    afterEach(() => void vi.useRealTimers());
    it('waits the whole delay past 2^31-1 ms (a plain setTimeout fires at once)', () => {
      vi.useFakeTimers();
      const fired = vi.fn();
      setLongTimeout(fired, 600 * 3_600_000);
      vi.advanceTimersByTime(2 ** 31);
      expect(fired).not.toHaveBeenCalled();
      vi.advanceTimersByTime(600 * 3_600_000 - 2 ** 31 - 1);
      expect(fired).not.toHaveBeenCalled();
      vi.advanceTimersByTime(1);
      expect(fired).toHaveBeenCalledOnce();
    });
    it('can be cleared in any leg', () => {
      vi.useFakeTimers();
      const fired = vi.fn();
      const t = setLongTimeout(fired, 3 * 2 ** 31);
      vi.advanceTimersByTime(2 ** 31 + 5);
      t.clear();
      vi.advanceTimersByTime(4 * 2 ** 31);
      expect(fired).not.toHaveBeenCalled();
    });
  });
});
