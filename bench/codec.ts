/**
 * `npm run bench -- codec [--quick] [--sizes 1KB,10KB,...]`: the domain and
 * codec hot paths on the realistic corpus (src/corpus), per size class:
 * compression ratio and MB/s both ways per algorithm, canonical JSON + SHA-256
 * MB/s, AES-256-GCM encrypt/decrypt MB/s; plus Avro StateEvent encode/decode
 * events/s (the CPU work RegistryCodec does once its schema cache is warm).
 * Needs no servers. --quick stops at 1 MB.
 */
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import avro from 'avsc';
import { guardAvroBody } from '../src/codec/avro-guard.js';
import { benchmark, type CompressionMeasurement } from '../src/codec/compression-select.js';
import { InMemoryDataKeyStore } from '../src/store/data-keys.js';
import { eventFromWire, eventToWire, type WireStateEvent } from '../src/codec/event-wire.js';
import { Keyring } from '../src/codec/keyring.js';
import { MasterKeySet } from '../src/codec/master-keys.js';
import { loadSchema } from '../src/codec/schemas.js';
import { generateEvents } from '../src/corpus/events.js';
import { SIZE_CLASSES, generateState, type SizeClass } from '../src/corpus/generate.js';
import { checksumFromScratch } from '../src/domain/checksum.js';
import { canonicalJson } from '../src/domain/json.js';
import { stateAsJson } from '../src/domain/state.js';
import { bytes, markdownTable, num } from './lib/table.js';
import { writeResults } from './lib/results.js';

const MB = 1024 * 1024;
const argv = process.argv.slice(3);
const quick = argv.includes('--quick');
const sizesArg = argv[argv.indexOf('--sizes') + 1];
const classes = (argv.includes('--sizes') && sizesArg ? sizesArg.split(',') : Object.keys(SIZE_CLASSES)).filter((c): c is SizeClass => c in SIZE_CLASSES && (!quick || SIZE_CLASSES[c as SizeClass] <= MB));

/** Runs `fn` repeatedly for at least `minMs` (at least once); returns ms per run. */
async function perRun(minMs: number, fn: () => unknown): Promise<number> {
  let runs = 0;
  const start = performance.now();
  do {
    await fn();
    runs++;
  } while (performance.now() - start < minMs);
  return (performance.now() - start) / runs;
}

interface CompressionRow extends CompressionMeasurement {
  sizeClass: SizeClass;
  settings: string;
}
const HIGH = { gzipLevel: 9, brotliQuality: 11, lz4HighCompression: true } as const;
const HIGH_LABEL = 'lz4-HC / gzip -9 / brotli q11';
/** Strongest settings are measured on the typical sizes only: brotli q11 runs at ~1 MB/s. */
const HIGH_CLASSES: readonly SizeClass[] = ['100KB', '1MB'];
interface SizeRow {
  sizeClass: SizeClass;
  bytes: number;
  checksumMBps: number;
  encryptMBps: number;
  decryptMBps: number;
}

async function main(): Promise<void> {
  const compression: CompressionRow[] = [];
  const perSize: SizeRow[] = [];
  const keyring = new Keyring({ masterKeys: new MasterKeySet({ bench: randomBytes(32) }), store: new InMemoryDataKeyStore() });

  for (const [i, sizeClass] of classes.entries()) {
    const t0 = performance.now();
    const state = stateAsJson(generateState({ seed: 1000 + i, targetBytes: SIZE_CLASSES[sizeClass] }));
    const json = Buffer.from(canonicalJson(state));
    process.stderr.write(`[codec] ${sizeClass}: ${bytes(json.length)} state generated in ${num(performance.now() - t0, 0)} ms\n`);
    // Small inputs are repeated for 300 ms so timer resolution does not dominate.
    const minMillis = json.length < 4 * MB ? 300 : 0;
    for (const row of benchmark([json], { minMillis })) compression.push({ sizeClass, settings: 'default', ...row });
    if (HIGH_CLASSES.includes(sizeClass)) {
      for (const row of benchmark([json], { ...HIGH, algorithms: ['lz4', 'gzip', 'brotli'] })) compression.push({ sizeClass, settings: HIGH_LABEL, ...row });
    }

    const sumMs = await perRun(minMillis, () => checksumFromScratch(state)); // the memoised checksum would measure a cache hit
    const frame = await keyring.encrypt('bench-agent', json);
    const encMs = await perRun(minMillis, () => keyring.encrypt('bench-agent', json));
    const decMs = await perRun(minMillis, () => keyring.decrypt(frame));
    const mb = json.length / MB;
    perSize.push({ sizeClass, bytes: json.length, checksumMBps: mb / (sumMs / 1000), encryptMBps: mb / (encMs / 1000), decryptMBps: mb / (decMs / 1000) });
  }

  // Avro: a realistic event log (conversation turns and tool calls appended per event).
  const type = avro.Type.forSchema(loadSchema('StateEvent') as avro.Schema);
  const events = generateEvents(7, quick ? 200 : 1000, quick ? 400_000 : 2_000_000);
  const bodies = events.map((e) => type.toBuffer(eventToWire(e)));
  const avgBytes = bodies.reduce((n, b) => n + b.length, 0) / bodies.length;
  const encMs = await perRun(1000, () => {
    for (const e of events) type.toBuffer(eventToWire(e));
  });
  const decMs = await perRun(1000, () => {
    for (const b of bodies) {
      guardAvroBody(type, b);
      eventFromWire(type.fromBuffer(b) as WireStateEvent);
    }
  });
  const avroRow = { events: events.length, avgEventBytes: Math.round(avgBytes), encodeEventsPerSec: events.length / (encMs / 1000), decodeEventsPerSec: events.length / (decMs / 1000) };

  console.log('\nCompression on the realistic corpus (savings = 1 - frame/original; frame includes the 56-byte header)');
  console.log(`defaults: lz4 fast, gzip -6, brotli q5, snappy; (max) = ${HIGH_LABEL}\n`);
  console.log(
    markdownTable(compression, [
      { header: 'size class', value: (r) => r.sizeClass, align: 'left' },
      { header: 'state bytes', value: (r) => bytes(r.originalBytes) },
      { header: 'algorithm', value: (r) => (r.settings === 'default' ? r.algorithm : `${r.algorithm} (max)`), align: 'left' },
      { header: 'savings %', value: (r) => num(r.savings * 100) },
      { header: 'ratio', value: (r) => num(r.ratio, 2) },
      { header: 'compress MB/s', value: (r) => num(r.compressMBps, 0) },
      { header: 'decompress MB/s', value: (r) => num(r.decompressMBps, 0) },
    ]),
  );
  console.log('\nCanonical JSON + SHA-256, AES-256-GCM envelope encryption\n');
  console.log(
    markdownTable(perSize, [
      { header: 'size class', value: (r) => r.sizeClass, align: 'left' },
      { header: 'state bytes', value: (r) => bytes(r.bytes) },
      { header: 'state checksum (hash tree, from scratch) MB/s', value: (r) => num(r.checksumMBps, 0) },
      { header: 'encrypt MB/s', value: (r) => num(r.encryptMBps, 0) },
      { header: 'decrypt MB/s', value: (r) => num(r.decryptMBps, 0) },
    ]),
  );
  console.log('\nAvro StateEvent (avsc, guard + wire mapping included; no registry round trip)\n');
  console.log(
    markdownTable(
      [avroRow],
      [
        { header: 'events', value: (r) => r.events },
        { header: 'avg event bytes', value: (r) => r.avgEventBytes },
        { header: 'encode events/s', value: (r) => num(r.encodeEventsPerSec, 0) },
        { header: 'decode events/s', value: (r) => num(r.decodeEventsPerSec, 0) },
      ],
    ),
  );
  const file = writeResults(quick ? 'codec-quick' : 'codec', { quick, classes, defaults: { gzipLevel: 6, brotliQuality: 5, lz4HighCompression: false }, high: HIGH, compression, perSize, avro: avroRow });
  console.log(`\nwritten ${file}`);
}

await main();
