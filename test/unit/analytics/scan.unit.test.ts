import { describe, expect, it } from 'vitest';
import { JsonEventCodec } from '../../../src/client/index.js';
import { bodyReader, parseFact, readFact, scanFact } from '../../../src/analytics/fact.js';
import { buildFaultScenario } from '../../../src/demo/faults.js';
import type { StateEvent } from '../../../src/domain/index.js';
import type { StoredRecord } from '../../../src/log/port.js';
import { badRecords } from '../../support/analytics-scenario.js';

const read = bodyReader();
const codec = new JsonEventCodec();
const stored = (key: string, value: Buffer, offset = 0): StoredRecord => ({ topic: 'events', partition: 0, offset: String(offset), key, value, headers: { eventType: 'x' }, timestamp: 0 });
const recordOf = async (e: StateEvent, offset = 0): Promise<StoredRecord> => stored(e.instanceId, await codec.encode(e), offset);

/** A small seeded generator (mulberry32), so a failure names a reproducible case. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STRINGS = ['', 'idle', 'a"b', 'back\\slash', 'tab\there', 'line\nbreak', 'é ü 中文 😀', '\u0001ctl', '\u2028', '/slash/', '12'];
const NUMBERS = [0, -1, 1.5, 1e21, 1e-7, 123456789012345, 2 ** 53 + 2, -0.25, 3.14159];

/** A JSON value with the shapes that make a text differ from its re-serialisation: floats, escapes, integer keys, unicode. */
function value(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 2 ? 4 : 6));
  if (k === 0) return STRINGS[Math.floor(r() * STRINGS.length)];
  if (k === 1) return NUMBERS[Math.floor(r() * NUMBERS.length)];
  if (k === 2) return [null, true, false][Math.floor(r() * 3)];
  if (k === 3) return Math.floor(r() * 1000);
  if (k === 4) return Array.from({ length: Math.floor(r() * 3) }, () => value(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (const key of ['b', '10', '2', 'a', 'ключ', 'x y']) if (r() < 0.4) o[key] = value(r, depth + 1);
  return o;
}

const PATHS = ['/status', '/agentType', '/memory/notes/3', '/messages/12/content', '/memory/12a', '/x', 'noslash', '/a/0/b/10'];
const OPS = ['create', 'update', 'delete'] as const;

describe('analytics reads JSON records by scanning their bytes (scanFact) with the figures of a full parse (parseFact)', () => {
  it('every record of the fault scenario: scanned, and equal to the parse', async () => {
    const { events } = buildFaultScenario({ seed: 11, healthy: 20, perFault: 1, durationMs: 60_000 });
    let n = 0;
    for (const e of events) {
      const r = await recordOf(e, n++);
      const scanned = scanFact(r, read);
      expect(scanned, `${e.eventId} not scanned`).toBeDefined();
      expect(scanned).toEqual(await parseFact(r, read));
    }
    expect(n).toBeGreaterThan(1000);
  });

  it('changes with escapes, floats, integer keys, unicode, absent and null values, oldBytes: equal to the parse', async () => {
    const [base] = buildFaultScenario({ seed: 2, faults: [], healthy: 1, perFault: 0, durationMs: 5_000 }).events;
    const r = random(16);
    let scannedCount = 0;
    for (let i = 0; i < 400; i++) {
      const changeset = Array.from({ length: 1 + Math.floor(r() * 4) }, () => {
        const c: Record<string, unknown> = { path: PATHS[Math.floor(r() * PATHS.length)], op: OPS[Math.floor(r() * 3)] };
        if (r() < 0.7) c.newValue = value(r);
        if (r() < 0.5) c.oldValue = value(r);
        else if (r() < 0.5) c.oldBytes = Math.floor(r() * 5000);
        return c;
      });
      const event = { ...base!, changeset } as unknown as StateEvent;
      const rec = await recordOf(event, i);
      const scanned = scanFact(rec, read);
      if (scanned) scannedCount++;
      expect(await readFact(rec, read), JSON.stringify(changeset)).toEqual(await parseFact(rec, read));
    }
    expect(scannedCount).toBeGreaterThan(390); // the codec's canonical records all take the scan
  });

  it('sealed changesets: equal to the parse; claim-checked ones are left to the parse (it fetches and verifies them)', async () => {
    const [base] = buildFaultScenario({ seed: 2, faults: [], healthy: 1, perFault: 0, durationMs: 5_000 }).events;
    const sealed = await recordOf({ ...base!, changeset: [], encryptedChangeset: 'AAEC\\u00e9xyz' } as unknown as StateEvent);
    expect(scanFact(sealed, read)).toBeDefined();
    expect(scanFact(sealed, read)).toEqual(await parseFact(sealed, read));
    const claim = await recordOf({ ...base!, changeset: [], changesetRef: { blobKey: 'changesets/a/b', sha256: 'ab', bytes: 123456, changes: 7 } } as unknown as StateEvent);
    expect(scanFact(claim, read)).toBeUndefined();
  });

  it('records the scan does not take (bad input, whitespace, duplicates, escapes in paths) read as the parse reads them', async () => {
    const [base] = buildFaultScenario({ seed: 2, faults: [], healthy: 1, perFault: 0, durationMs: 5_000 }).events;
    const text = JSON.stringify(base);
    const odd = [
      ...badRecords(base!).map((b) => stored(b.record.key, b.record.value!)),
      stored(base!.instanceId, Buffer.from(JSON.stringify(base, null, 1))), // whitespace
      stored(base!.instanceId, Buffer.from(`${text} `)),
      stored(base!.instanceId, Buffer.from(text.slice(0, -1))), // truncated
      stored(base!.instanceId, Buffer.from(text.replace('{', '{"version":99,'))), // a duplicate, first
      stored(base!.instanceId, Buffer.from(text.replace('"changeset":[', '"changeset":[7,'))), // a change that is not an object
      stored(base!.instanceId, Buffer.from(text.replace('"changeset":[', '"changeset":[{"op":"create","path":"/a\\u0062"},'))),
      stored(base!.instanceId, Buffer.from(text.replace('"changeset":[', '"changeset":[{"newValue":tru,"op":"create","path":"/a"},'))),
      stored(base!.instanceId, Buffer.from(text.replace(/"version":\d+/, '"version":"1"'))),
      stored(base!.instanceId, Buffer.from(text.replace(/"version":\d+/, '"version":0'))),
      stored(base!.instanceId, Buffer.concat([Buffer.from(text.slice(0, 20)), Buffer.from([0xc3, 0x28]), Buffer.from(text.slice(20))])), // invalid UTF-8
    ];
    for (const rec of odd) {
      expect(scanFact(rec, read)).toBeUndefined();
      expect(await readFact(rec, read)).toEqual(await parseFact(rec, read));
    }
  });
});
