/**
 * `npm run bench -- changeset [--quick]`: the domain work of one write (issue
 * 10), no servers. Two figures, each before (the write path before issue 10,
 * bench/lib/before-issue-10.ts) and after, in the same run:
 * 1. changeset bytes of the chat-window update by draft function (20 turns of
 *    ~1 KB, append one, drop the oldest), against the change's own JSON;
 * 2. p50/p99 of a draft update + checksum (what the writer does per update)
 *    and of applyChanges + checksum (what the projector does), 1 KB change, on
 *    corpus states of 10 KB / 1 MB / 10 MB; goal: within 2x of the 10 KB figure.
 * When the `immer` package is resolvable (`npm i --no-save immer`), its
 * produceWithPatches on the same update is measured too, for comparison.
 */
import { generateState } from '../src/corpus/generate.js';
import { Random, loadTextSources, proseSpan } from '../src/corpus/index.js';
import { OLD_VALUE_MAX_BYTES, applyChanges, elideOldValues, type Change } from '../src/domain/changeset.js';
import { checksum, checksumFromScratch } from '../src/domain/checksum.js';
import { produceWithChanges } from '../src/domain/draft.js';
import type { JsonObject, JsonValue } from '../src/domain/json.js';
import { stateAsJson } from '../src/domain/state.js';
import { checksumBefore, draftBefore } from './lib/before-issue-10.js';
import { writeResults } from './lib/results.js';
import { bytes, markdownTable, num } from './lib/table.js';

const quick = process.argv.includes('--quick');
const text = loadTextSources();
const rnd = new Random(42);

/** A ~1 KB conversation turn of corpus text. */
function turn(i: number): JsonObject {
  let content = '';
  while (content.length < 900) content += proseSpan(text, rnd, 2) + ' ';
  return { id: `msg_${i}`, role: i % 2 ? 'assistant' : 'user', content: content.slice(0, 900), createdAt: 1_760_000_000_000 + i, tokenCount: 200 };
}

type Memory = { memory: { conversation: JsonValue[] } };
/** The update of bench/append.ts: keep the last 19 turns, append one. */
const windowUpdate = (t: JsonObject) => (d: Memory) => {
  const convo = d.memory.conversation.slice(-19);
  convo.push(t);
  d.memory.conversation = convo;
};
/** The same update written with array methods. */
const pushShift = (t: JsonObject) => (d: Memory) => {
  d.memory.conversation.push(t);
  d.memory.conversation.shift();
};

interface BytesRow {
  path: string;
  style: string;
  changes: number;
  changesetBytes: number;
  vsNewTurn: number;
  vsHandWritten: number;
}

async function changesetBytes(): Promise<BytesRow[]> {
  const base = stateAsJson(generateState({ seed: 7, targetBytes: 4096 }));
  (base.memory as JsonObject).conversation = Array.from({ length: 20 }, (_, i) => turn(i));
  const t = turn(20);
  const oldest = ((base.memory as JsonObject).conversation as JsonValue[])[0] as JsonValue;
  const newTurn = JSON.stringify(t).length;
  // What a caller would write by hand; oldValue is part of our Change shape (audit, rollback).
  const handWritten = JSON.stringify([
    { path: '/memory/conversation/-', op: 'create', newValue: t },
    { path: '/memory/conversation/0', op: 'delete', oldValue: oldest },
  ]).length;
  const rows: BytesRow[] = [];
  const add = (path: string, style: string, changes: unknown[]) => {
    const n = JSON.stringify(changes).length;
    rows.push({ path, style, changes: changes.length, changesetBytes: n, vsNewTurn: n / newTurn, vsHandWritten: n / handWritten });
  };
  for (const [style, make] of [
    ['slice(-19) + push + assign', windowUpdate],
    ['push + shift', pushShift],
  ] as const) {
    add('before: structuredClone + index diff', style, draftBefore(base, make(t) as never).changes);
    add('after: produceWithChanges', style, produceWithChanges(base, make(t) as never).changes);
    add(`after: in the event (old values > ${OLD_VALUE_MAX_BYTES} B left out)`, style, elideOldValues(produceWithChanges(base, make(t) as never).changes, OLD_VALUE_MAX_BYTES));
  }
  try {
    const immer = (await import('immer' as string)) as {
      produceWithPatches: (b: unknown, r: (d: never) => void) => [unknown, unknown[]];
      enablePatches: () => void;
      enableArrayMethods?: () => void;
    };
    immer.enablePatches();
    for (const [style, make] of [
      ['slice(-19) + push + assign', windowUpdate],
      ['push + shift', pushShift],
    ] as const) {
      add('Immer produceWithPatches', style, immer.produceWithPatches(base, make(t) as never)[1]);
    }
    if (immer.enableArrayMethods) {
      immer.enableArrayMethods();
      add('Immer + enableArrayMethods()', 'push + shift', immer.produceWithPatches(base, pushShift(t) as never)[1]);
    }
  } catch {
    process.stderr.write('[bench] immer not installed: no Immer rows (npm i --no-save immer to compare)\n');
  }
  return rows;
}

interface TimeRow {
  path: string;
  sizeClass: string;
  stateBytes: number;
  conversation: number;
  runs: number;
  writerP50Ms: number;
  writerP99Ms: number;
  projectorP50Ms: number;
  changesetBytes: number;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Chained updates (each on the previous result), timing the writer's and the projector's work separately. */
function timeUpdates(path: string, sizeClass: string, start: JsonValue, runs: number, draft: (s: JsonValue, t: JsonObject) => { next: JsonValue; changes: Change[] }, sum: (s: JsonValue) => string): TimeRow {
  let writerState = start;
  let projectorState = start;
  sum(start); // both sides hold a checksummed head before the first update
  const writer: number[] = [];
  const projector: number[] = [];
  let changeBytes = 0;
  for (let i = 0; i < runs; i++) {
    const t = turn(1000 + i);
    const t0 = performance.now();
    const { next, changes } = draft(writerState, t);
    sum(next);
    const t1 = performance.now();
    const applied = applyChanges(projectorState, changes);
    sum(applied);
    const t2 = performance.now();
    writer.push(t1 - t0);
    projector.push(t2 - t1);
    changeBytes += JSON.stringify(changes).length;
    writerState = next;
    projectorState = applied;
  }
  if (checksumFromScratch(writerState) !== checksumFromScratch(projectorState)) throw new Error(`${path} ${sizeClass}: writer and projector disagree`);
  writer.sort((a, b) => a - b);
  projector.sort((a, b) => a - b);
  return {
    path,
    sizeClass,
    stateBytes: JSON.stringify(start).length,
    conversation: ((start as Memory).memory.conversation ?? []).length,
    runs,
    writerP50Ms: pct(writer, 50),
    writerP99Ms: pct(writer, 99),
    projectorP50Ms: pct(projector, 50),
    changesetBytes: Math.round(changeBytes / runs),
  };
}

const appendDrop = (s: JsonValue, t: JsonObject) => produceWithChanges(s, (d) => pushShift(t)(d as unknown as Memory));
const appendDropBefore = (s: JsonValue, t: JsonObject) => draftBefore(s, (d) => pushShift(t)(d as unknown as Memory));

async function main(): Promise<void> {
  const bytesRows = await changesetBytes();
  const sizes: Array<[string, number, number, number]> = quick
    ? [
        ['10KB', 10 * 1024, 200, 50],
        ['1MB', 1024 * 1024, 100, 10],
      ]
    : [
        ['10KB', 10 * 1024, 2000, 200],
        ['1MB', 1024 * 1024, 500, 30],
        ['10MB', 10 * 1024 * 1024, 200, 6],
      ];
  const timeRows: TimeRow[] = [];
  for (const [name, target, runsAfter, runsBefore] of sizes) {
    const state = stateAsJson(generateState({ seed: 11, targetBytes: target }));
    timeRows.push(timeUpdates('before', name, structuredClone(state), runsBefore, appendDropBefore, checksumBefore));
    timeRows.push(timeUpdates('after', name, state, runsAfter, appendDrop, checksum));
    process.stderr.write(`[bench] ${name} done\n`);
  }
  const base = (path: string) => timeRows.find((r) => r.path === path && r.sizeClass === '10KB')?.writerP50Ms ?? NaN;

  console.log('\nchangeset bytes, chat-window update by draft function (20 turns of ~1 KB, append one, drop the oldest)\n');
  console.log(
    markdownTable(bytesRows, [
      { header: 'path', value: (r) => r.path, align: 'left' },
      { header: 'draft function', value: (r) => r.style, align: 'left' },
      { header: 'changes', value: (r) => r.changes },
      { header: 'changeset JSON', value: (r) => bytes(r.changesetBytes) },
      { header: 'x new turn', value: (r) => num(r.vsNewTurn, 2) },
      { header: 'x hand-written change list', value: (r) => num(r.vsHandWritten, 2) },
    ]),
  );
  console.log('\ndraft update + checksum (writer) and applyChanges + checksum (projector), 1 KB turn appended and the oldest dropped, domain only\n');
  console.log(
    markdownTable(timeRows, [
      { header: 'path', value: (r) => r.path, align: 'left' },
      { header: 'state', value: (r) => `${r.sizeClass} (${bytes(r.stateBytes)})` },
      { header: 'turns', value: (r) => r.conversation },
      { header: 'runs', value: (r) => r.runs },
      { header: 'writer p50 ms', value: (r) => num(r.writerP50Ms, 3) },
      { header: 'writer p99 ms', value: (r) => num(r.writerP99Ms, 3) },
      { header: 'x 10 KB p50', value: (r) => num(r.writerP50Ms / base(r.path), 1) },
      { header: 'projector p50 ms', value: (r) => num(r.projectorP50Ms, 3) },
      { header: 'changeset', value: (r) => bytes(r.changesetBytes) },
    ]),
  );
  console.log(`\nwritten ${writeResults(`changeset${quick ? '-quick' : ''}`, { quick, bytes: bytesRows, updates: timeRows })}`);
}

await main();
