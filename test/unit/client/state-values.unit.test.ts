import { describe, expect, it } from 'vitest';
import { newestStateValues } from '../../../src/client/head-source.js';
import type { StoredRecord } from '../../../src/log/port.js';

let offset = 0;
/** A state-topic record as the projector writes it: JSON value, `version` header (unless `header` says otherwise). */
function value(key: string, version: number, extra: { header?: string | null; body?: string; instanceId?: string } = {}): StoredRecord {
  const body = extra.body ?? JSON.stringify({ instanceId: extra.instanceId ?? key, version, epoch: 1, checksum: `c${version}`, updatedAt: 0, position: { partition: 0, offset: String(version) }, state: { v: version } });
  const headers: Record<string, string> = extra.header === null ? {} : { version: extra.header ?? String(version) };
  return { topic: 's', partition: 0, offset: String(offset++), key, value: Buffer.from(body), headers, timestamp: 0 };
}
const tombstone = (key: string): StoredRecord => ({ topic: 's', partition: 0, offset: String(offset++), key, value: null, headers: {}, timestamp: 0 });
const versions = (records: StoredRecord[][], wanted?: Set<string>) => Object.fromEntries([...newestStateValues(records, wanted).latest].map(([k, v]) => [k, v.version]));

describe('newestStateValues (the state topic read by both writer views)', () => {
  it('takes per agent the highest version, the later one on a tie, also when a rebuild appended older versions after newer ones', () => {
    const a3 = value('a', 3);
    const a3again = value('a', 3);
    const parts = [
      [value('a', 1), value('b', 5), a3, value('a', 2), a3again],
      [value('c', 1), value('b', 4)],
    ];
    expect(versions(parts)).toEqual({ a: 3, b: 5, c: 1 });
    expect(newestStateValues(parts).latest.get('a')).toMatchObject({ position: { offset: '3' } });
    expect(newestStateValues(parts).bytesRead).toBe(parts.flat().reduce((n, r) => n + r.value!.length + r.key.length, 0));
  });

  it('forgets an agent at its tombstone and counts only the values after it', () => {
    expect(versions([[value('a', 7), tombstone('a')]])).toEqual({});
    expect(versions([[value('a', 7), tombstone('a'), value('a', 2)]])).toEqual({ a: 2 });
  });

  it('passes over a malformed value, a value of another key and a body that disagrees with its header, for the next best', () => {
    expect(versions([[value('a', 2), value('a', 9, { body: '{not json' })]])).toEqual({ a: 2 });
    expect(versions([[value('a', 2), value('a', 9, { instanceId: 'b' })]])).toEqual({ a: 2 });
    expect(versions([[value('a', 2), value('a', 4, { header: '8' })]])).toEqual({ a: 2 });
    expect(versions([[value('a', 9, { body: '{not json' })]])).toEqual({});
  });

  it('parses a value without a usable version header to learn its version', () => {
    expect(versions([[value('a', 5), value('a', 6, { header: null }), value('a', 4, { header: 'x' })]])).toEqual({ a: 6 });
    expect(versions([[value('a', 5, { header: null }), value('a', 3)]])).toEqual({ a: 5 });
  });

  it('keeps only the wanted agents, and still counts every byte read', () => {
    const parts = [[value('a', 1), value('b', 2), value('c', 3)]];
    expect(versions(parts, new Set(['b', 'z']))).toEqual({ b: 2 });
    expect(newestStateValues(parts, new Set(['b'])).bytesRead).toBe(newestStateValues(parts).bytesRead);
  });
});
