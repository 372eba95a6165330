/**
 * `npm run bench -- peers`: agentstate against the libraries users compare it
 * with, on one workload in one run (issue 11). N agents (1 and 50) each get
 * sequential updates of a ~22 KB chat-window state for `--seconds` (append a
 * ~1 KB message of real prose, drop the oldest, bump a counter, flip the
 * status: bench/lib/peers/workload.ts), then N readers read the latest state
 * of random agents for `--read-seconds`. Every read is checked against the
 * counter the driver wrote last, and after the reads every agent's stored
 * state is compared with the driver's expectation; a mismatch fails the run.
 *
 * Systems: agentstate on the servers and embedded; LangGraph.js
 * MongoDBSaver (same FerretDB), SqliteSaver (synchronous=FULL, as our
 * embedded log), PostgresSaver (the stack's PostgreSQL 15, a private
 * database); Emmett's PostgreSQL event store; a naive MongoDB replaceOne
 * upsert; raw kafkajs send (the ceiling). Columns: write p50/p99, writes/s,
 * read p50/p99, reads/s, bytes stored per update, CPU (this process + the
 * stack's servers) per write. Ratios agentstate / peer go in the JSON.
 *
 * Options: --seconds N (writes per cell, default 10), --read-seconds N
 * (default 5), --agents 1,50, --only key,key (systems: as-servers,
 * as-embedded, lg-mongo, lg-sqlite, lg-postgres, emmett, naive-mongo, kafka),
 * --pg-url postgres://user@host:port (default: the stack's PostgreSQL).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentstateEmbedded, agentstateServers } from './lib/peers/agentstate.js';
import { clientCpuSeconds, PgSizes, serverCpuSeconds, stackDir } from './lib/peers/measure.js';
import { emmettPostgres, langgraphMongo, langgraphPostgres, langgraphSqlite, naiveMongo, rawKafka } from './lib/peers/peers.js';
import type { PeerFactory } from './lib/peers/system.js';
import { applyUpdate, compareChat, expectedChat, initialChat, updateOf, type ChatState } from './lib/peers/workload.js';
import { pct } from './lib/read-fleet.js';
import { writeResults } from './lib/results.js';
import { bytes, markdownTable, num } from './lib/table.js';
import { benchStack } from './stack.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const SECONDS = Number(arg('--seconds') ?? 10);
const READ_SECONDS = Number(arg('--read-seconds') ?? 5);
const AGENT_COUNTS = (arg('--agents') ?? '1,50').split(',').map(Number);
const ONLY = arg('--only')?.split(',');

interface Cell {
  system: string;
  key: string;
  agents: number;
  writes: number;
  writeP50Ms: number;
  writeP99Ms: number;
  writesPerSec: number;
  /** Seconds after the last acknowledged write until reads saw every write. */
  settleSeconds: number;
  reads: number;
  readP50Ms: number | null;
  readP99Ms: number | null;
  readsPerSec: number | null;
  bytesPerUpdate: number;
  clientCpuS: number;
  serverCpuS: number;
  cpuMsPerWrite: number;
  durability: string;
  check: string;
}

async function runCell(key: string, factory: PeerFactory, agents: number, cellName: string): Promise<{ cell: Cell; failures: string[] }> {
  const sys = await factory(cellName);
  const failures: string[] = [];
  try {
    await sys.seed(agents, initialChat);
    const bytes0 = await sys.storedBytes();
    const cpu0 = { client: clientCpuSeconds(), server: serverCpuSeconds() };
    const counters = new Array<number>(agents).fill(0);
    const lat: number[] = [];
    const t0 = performance.now();
    const deadline = t0 + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: agents }, async (_, a) => {
        let state: ChatState = initialChat(a);
        while (performance.now() < deadline) {
          const u = updateOf(a, counters[a]! + 1);
          const next = applyUpdate(state, u);
          const t = performance.now();
          await sys.write(a, u, next);
          lat.push(performance.now() - t);
          state = next;
          counters[a] = u.counter;
        }
      }),
    );
    const writeSeconds = (performance.now() - t0) / 1000;
    const s0 = performance.now();
    await sys.settle?.();
    const settleSeconds = (performance.now() - s0) / 1000;
    const cpu1 = { client: clientCpuSeconds(), server: serverCpuSeconds() };
    const stored = await sys.storedBytes();
    const writes = lat.length;
    lat.sort((x, y) => x - y);

    const readLat: number[] = [];
    let readSeconds = 0;
    if (sys.read) {
      const read = sys.read.bind(sys);
      const r0 = performance.now();
      const stop = r0 + READ_SECONDS * 1000;
      let seed = 12345;
      await Promise.all(
        Array.from({ length: agents }, async () => {
          while (performance.now() < stop) {
            seed = (seed * 1103515245 + 12345) & 0x7fffffff;
            const a = seed % agents;
            const t = performance.now();
            const got = await read(a);
            readLat.push(performance.now() - t);
            if (got?.counter !== counters[a]) failures.push(`${key} n=${agents}: read of agent ${a} gave counter ${got?.counter}, last written ${counters[a]}`);
          }
        }),
      );
      readSeconds = (performance.now() - r0) / 1000;
      readLat.sort((x, y) => x - y);
      for (let a = 0; a < agents; a++) {
        const diff = compareChat(await read(a), expectedChat(a, counters[a]!));
        if (diff) failures.push(`${key} n=${agents}: agent ${a}: ${diff}`);
      }
    } else {
      const diff = await sys.verifyStored?.(writes);
      if (diff) failures.push(`${key} n=${agents}: ${diff}`);
    }
    const cell: Cell = {
      system: sys.name,
      key,
      agents,
      writes,
      writeP50Ms: pct(lat, 50),
      writeP99Ms: pct(lat, 99),
      writesPerSec: writes / writeSeconds,
      settleSeconds,
      reads: readLat.length,
      readP50Ms: sys.read ? pct(readLat, 50) : null,
      readP99Ms: sys.read ? pct(readLat, 99) : null,
      readsPerSec: sys.read ? readLat.length / readSeconds : null,
      bytesPerUpdate: (stored - bytes0) / Math.max(1, writes),
      clientCpuS: cpu1.client - cpu0.client,
      serverCpuS: cpu1.server - cpu0.server,
      cpuMsPerWrite: ((cpu1.client - cpu0.client + cpu1.server - cpu0.server) * 1000) / Math.max(1, writes),
      durability: sys.durability,
      check: failures.length === 0 ? (sys.read ? `${agents}/${agents} states match` : 'record count matches') : `${failures.length} MISMATCHES`,
    };
    process.stderr.write(`${sys.name} n=${agents}: ${num(cell.writesPerSec, 0)} writes/s, p99 ${num(cell.writeP99Ms, 1)} ms; reads p99 ${num(cell.readP99Ms ?? NaN, 1)} ms; ${cell.check}\n`);
    return { cell, failures };
  } finally {
    await sys.close();
  }
}

/** The stack's PostgreSQL (scripts/stack keeps its port in data/postgres.port), unless --pg-url says otherwise. */
function pgBase(): string {
  const given = arg('--pg-url');
  if (given) return given.replace(/\/+$/, '');
  const portFile = join(stackDir(), 'data', 'postgres.port');
  const port = existsSync(portFile) ? readFileSync(portFile, 'utf8').trim() : '15432';
  return `postgres://postgres@127.0.0.1:${port}`;
}

async function main(): Promise<void> {
  const env = await benchStack();
  const stamp = Date.now().toString(36);
  const base = pgBase();
  const pgUrl = (db: string): string => `${base}/${db}`;
  // FerretDB's databases are schemas of its PostgreSQL database `ferretdb`; the others are our private databases.
  const ferret = await PgSizes.connect(pgUrl('ferretdb'));
  const admin = await PgSizes.connect(pgUrl('postgres'));
  const kafkaLogDir = join(stackDir(), 'data', 'kafka-1');
  const systems: Array<[string, PeerFactory]> = [
    // The store's own setup on FerretDB/PostgreSQL (docs/store.md); the peers get FerretDB's indexes only, as they ship.
    ['as-servers', agentstateServers(env, stamp, kafkaLogDir, ferret, pgUrl('ferretdb'))],
    ['as-embedded', agentstateEmbedded()],
    ['lg-mongo', langgraphMongo(env, stamp, ferret)],
    ['lg-sqlite', langgraphSqlite()],
    ['lg-postgres', langgraphPostgres(pgUrl, stamp, admin)],
    ['emmett', emmettPostgres(pgUrl, stamp, admin)],
    ['naive-mongo', naiveMongo(env, stamp, ferret)],
    ['kafka', rawKafka(env, stamp, kafkaLogDir)],
  ];
  const cells: Cell[] = [];
  const failures: string[] = [];
  try {
    for (const n of AGENT_COUNTS) {
      for (const [key, factory] of systems) {
        if (ONLY && !ONLY.includes(key)) continue;
        const r = await runCell(key, factory, n, `n${n}${key.replace(/[^a-z]/g, '')}`);
        cells.push(r.cell);
        failures.push(...r.failures);
      }
    }
  } finally {
    await ferret.close();
    await admin.close();
  }
  const ratios = cells
    .filter((c) => c.key.startsWith('as-'))
    .flatMap((as) =>
      cells
        .filter((p) => !p.key.startsWith('as-') && p.agents === as.agents)
        .map((p) => ({
          agentstate: as.key,
          peer: p.key,
          agents: as.agents,
          // agentstate / peer: above 1 is better for writes/s, below 1 for p99 and bytes.
          writesPerSec: as.writesPerSec / p.writesPerSec,
          writeP99: as.writeP99Ms / p.writeP99Ms,
          readP99: as.readP99Ms !== null && p.readP99Ms !== null ? as.readP99Ms / p.readP99Ms : null,
          bytesPerUpdate: as.bytesPerUpdate / p.bytesPerUpdate,
        })),
    );
  const table = markdownTable(cells, [
    { header: 'system', value: (c) => c.system, align: 'left' },
    { header: 'N', value: (c) => c.agents },
    { header: 'write p50 ms', value: (c) => num(c.writeP50Ms, 1) },
    { header: 'write p99 ms', value: (c) => num(c.writeP99Ms, 1) },
    { header: 'writes/s', value: (c) => num(c.writesPerSec, 0) },
    { header: 'read p50 ms', value: (c) => (c.readP50Ms === null ? 'n/a' : num(c.readP50Ms, 2)) },
    { header: 'read p99 ms', value: (c) => (c.readP99Ms === null ? 'n/a' : num(c.readP99Ms, 2)) },
    { header: 'reads/s', value: (c) => (c.readsPerSec === null ? 'n/a' : num(c.readsPerSec, 0)) },
    { header: 'bytes/update', value: (c) => bytes(Math.round(c.bytesPerUpdate)) },
    { header: 'CPU ms/write', value: (c) => num(c.cpuMsPerWrite, 2) },
    { header: 'check', value: (c) => c.check, align: 'left' },
  ]);
  const durability = [...new Map(cells.map((c) => [c.system, c.durability])).entries()].map(([s, d]) => `- ${s}: ${d}`).join('\n');
  process.stdout.write(
    `\npeers: ~22 KB chat-window states, ${SECONDS} s of sequential updates per agent, then ${READ_SECONDS} s of reads of random agents\n\n${table}\n\ndurability when a write returns:\n${durability}\n\n`,
  );
  process.stdout.write(`results: ${writeResults('peers', { seconds: SECONDS, readSeconds: READ_SECONDS, agentCounts: AGENT_COUNTS, cells, ratios, failures, matched: failures.length === 0 })}\n`);
  if (failures.length > 0) {
    process.stderr.write(
      `\nPEERS MISMATCH (${failures.length}):\n${failures
        .slice(0, 20)
        .map((f) => `  ${f}`)
        .join('\n')}\n`,
    );
    process.exitCode = 1;
  }
}

await main();
