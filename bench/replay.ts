/**
 * `npm run bench -- replay`: replay by offset reset and per-agent replay
 * (DESIGN.md Replay). Same realistic corpus as `project` (src/corpus, Avro,
 * 6 partitions), projected once into database A, then:
 *   - rebuild (reset to earliest): the group reset to earliest, rebuilt into an
 *     empty database B; every agent's head in B must equal A's (version,
 *     checksum, state) and the corpus's last checksum;
 *   - rebuild to a timestamp: the group reset to the timestamp of the middle
 *     version, re-run into B, which already holds every head, so each re-read
 *     record is recognised by its position and skipped (Invariant 4): this
 *     measures the re-read, and B must come out unchanged;
 *   - StateManager.replayEvents(id, 1, last) for a few agents on B: nearest
 *     snapshot + mirrored events, every step's checksum verified;
 *   - StateManager.replayEvents(id, 1, last) of one agent with a long history
 *     (--long-events, 2,000 by default), projected from its own topics into
 *     database C with policy snapshots off, so every call folds the whole
 *     history from the mirror (per-call fixed latency dominates a 30-event replay);
 *   - the 30-event replays again, 4 calls at a time (wall time: throughput
 *     rather than the latency of one call);
 *   - both sequential replays again with the store reading through FerretDB's commands
 *     (`directReads: false`), the read path before issue 11, as the baseline
 *     of the same run (on a server without `ferretdbPostgresUrl` both rows
 *     read the same way).
 * Every replay's checksum is checked against the corpus. Any mismatch is
 * printed and the process exits 1.
 * Options: --quick, --agents N, --events N (per agent), --long-events N.
 */
import { RedisCache } from '../src/cache/redis.js';
import { RegistryEventCodec } from '../src/client/index.js';
import { RegistryCodec } from '../src/codec/index.js';
import { generateEvents } from '../src/corpus/index.js';
import { canonicalJson, checksum, parseJson } from '../src/domain/index.js';
import { topicNames, topicSpecs } from '../src/log/topics.js';
import { StateManager } from '../src/manager/index.js';
import { stateOfRow } from '../src/store/state-fields.js';
import { decodeState, MetricsRegistry, Projector, resetProjectorGroup } from '../src/projector/index.js';
import type { StoredState } from '../src/store/port.js';
import { MongoStore, type MongoStoreOptions } from '../src/store/mongo/index.js';
import { appendRoundRobin, corpusEvents } from './lib/corpus-log.js';
import { intArg, pipelineBench } from './lib/pipeline.js';
import { writeResults } from './lib/results.js';
import { markdownTable, num } from './lib/table.js';

const quick = process.argv.includes('--quick');
const AGENTS = intArg('--agents', quick ? 100 : 500);
const PER_AGENT = intArg('--events', quick ? 10 : 30);
const REPLAY_AGENTS = Math.min(20, AGENTS);
const LONG_EVENTS = intArg('--long-events', quick ? 500 : 2000);
/** Replays of the long history per read path. */
const LONG_REPLAYS = 3;

interface Row {
  scenario: string;
  /** Records read (rebuilds) or events replayed (StateManager). */
  events: number;
  /** Events folded into a new head; the rest were skipped as already applied. */
  applied: number;
  skipped: number;
  seconds: number;
  eventsPerSec: number;
  /** Replays: the first call's and the median call's milliseconds (a fresh manager's first call pays for a cold start). */
  callMs?: { first: number; p50: number };
  check: string;
}

type Expected = Map<string, { version: number; checksum: string }>;

async function main(): Promise<void> {
  const { env, stamp, prefix, topics, log, codec, blobs } = await pipelineBench('replay');
  const group = `${prefix}projector`;
  const cache = new RedisCache({ url: env.redisUrl, prefix: `${prefix}cache:` });
  const stores: MongoStore[] = [];
  const rows: Row[] = [];
  const failures: string[] = [];

  try {
    process.stderr.write(`generating and appending ${AGENTS} x ${PER_AGENT} events...\n`);
    const histories = corpusEvents(AGENTS, PER_AGENT);
    const total = await appendRoundRobin(log, codec, topics.events, histories);
    const ids = histories.map((h) => h[0]!.instanceId);
    const expected: Expected = new Map(histories.map((h) => [h[0]!.instanceId, { version: h.length, checksum: h.at(-1)!.stateChecksum }]));

    const openStore = async (name: string, extra: Pick<MongoStoreOptions, 'directReads'> = {}): Promise<MongoStore> => {
      const store = await MongoStore.connect({
        uri: env.mongodbUri,
        database: `bench_replay_${stamp}_${name}`,
        ...(env.ferretdbPostgresUrl ? { ferretdbPostgresUrl: env.ferretdbPostgresUrl } : {}),
        ...extra,
      });
      stores.push(store);
      await store.setup();
      return store;
    };
    /** One projector run to the end offsets; counts from its metrics. */
    const project = async (
      store: MongoStore,
      over: { topicPrefix: string; group: string; codec: RegistryEventCodec; snapshots?: { everyEvents: number; everyBytes: number } } = { topicPrefix: prefix, group, codec },
    ): Promise<{ seconds: number; applied: number; skipped: number; rejected: number }> => {
      const metrics = new MetricsRegistry();
      const projector = new Projector({ log, blobs, cache, sweepIntervalMs: 0, metrics, store, ...over });
      const t0 = performance.now();
      await projector.runUntilCaughtUp();
      const seconds = (performance.now() - t0) / 1000;
      const events = (result: string): number => metrics.value('agentstate_projector_events_total', { result });
      const rejected = [...metrics.render().matchAll(/^agentstate_projector_rejects_total\S* (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
      return { seconds, applied: events('applied'), skipped: events('skipped'), rejected };
    };

    process.stderr.write('projecting into database A...\n');
    const a = await openStore('a');
    const first = await project(a);
    failures.push(...(await compareHeads('A vs corpus', a, a, ids, expected)));
    if (first.applied !== total || first.rejected > 0) failures.push(`A: ${first.applied} of ${total} applied, ${first.rejected} rejected`);

    process.stderr.write('rebuild (reset to earliest) into database B...\n');
    await resetProjectorGroup({ log, group, target: { to: 'earliest' }, topicPrefix: prefix });
    const b = await openStore('b');
    const rebuild = await project(b);
    const rebuildDiffs = await compareHeads('B vs A', a, b, ids, expected);
    failures.push(...rebuildDiffs);
    rows.push(row('rebuild (reset to earliest, empty DB)', total, rebuild, rebuildDiffs.length === 0 && rebuild.applied === total ? `${AGENTS}/${AGENTS} heads match` : 'MISMATCH'));

    // Corpus timestamps depend only on the version and are appended version by
    // version, so this timestamp is the first record of the middle version on
    // every partition.
    const midVersion = Math.floor(PER_AGENT / 2) + 1;
    const midTimestamp = histories[0]![midVersion - 1]!.timestamp;
    const end = await log.endOffsets(topics.events);
    process.stderr.write(`rebuild to a timestamp (v${midVersion}, ${new Date(midTimestamp).toISOString()}) into database B...\n`);
    const moved = await resetProjectorGroup({ log, group, target: { to: 'timestamp', timestamp: midTimestamp }, topicPrefix: prefix });
    const reread = Object.entries(end).reduce((n, [p, e]) => n + Number(BigInt(e) - BigInt(moved[Number(p)] ?? e)), 0);
    const wanted = AGENTS * (PER_AGENT - midVersion + 1);
    if (reread !== wanted) failures.push(`timestamp reset: ${reread} records after the reset point, expected ${wanted} (versions ${midVersion}..${PER_AGENT})`);
    const partial = await project(b);
    const partialDiffs = await compareHeads('B after the timestamp rebuild vs A', a, b, ids, expected);
    failures.push(...partialDiffs);
    if (partial.applied + partial.skipped !== reread) failures.push(`timestamp rebuild: ${partial.applied} applied + ${partial.skipped} skipped, but ${reread} records re-read`);
    rows.push(row(`rebuild to a timestamp (v${midVersion}.., same DB)`, reread, partial, partialDiffs.length === 0 && reread === wanted ? 'heads unchanged' : 'MISMATCH'));

    process.stderr.write(`long history: ${LONG_EVENTS} events of one agent into database C (own topics, no policy snapshots)...\n`);
    const longPrefix = `${prefix}long.`;
    const longTopics = topicNames(longPrefix);
    await log.setup(topicSpecs({ prefix: longPrefix, partitions: 6 }));
    const longCodec = await RegistryEventCodec.create(new RegistryCodec({ url: env.schemaRegistryUrl }), longTopics.events);
    const long = generateEvents(5000, LONG_EVENTS, 8 * 1024);
    const longId = long[0]!.instanceId;
    await appendRoundRobin(log, longCodec, longTopics.events, [long]);
    const c = await openStore('c');
    const longRun = await project(c, { topicPrefix: longPrefix, group: `${longPrefix}projector`, codec: longCodec, snapshots: { everyEvents: 0, everyBytes: 0 } });
    if (longRun.applied !== LONG_EVENTS) failures.push(`C: ${longRun.applied} of ${LONG_EVENTS} applied`);
    if (await c.findSnapshot(longId)) failures.push(`C: ${longId} has a snapshot; the long replay must fold the whole history`);
    const longExpected: Expected = new Map([[longId, { version: LONG_EVENTS, checksum: long.at(-1)!.stateChecksum }]]);

    const picked = Array.from({ length: REPLAY_AGENTS }, (_, i) => ids[Math.floor((i * AGENTS) / REPLAY_AGENTS)]!);
    /**
     * Replays `1..to` of each agent through a manager on `store`, `parallel`
     * calls at a time (1: in turn, `seconds` summed over the calls; more:
     * the wall time of all of them); every result checked against the corpus.
     */
    const replay = async (scenario: string, store: MongoStore, agents: string[], to: number, want: Expected, parallel = 1): Promise<void> => {
      const manager = new StateManager({ store, blobs });
      const snaps = await Promise.all(agents.map((id) => store.findSnapshot(id, { atOrBeforeVersion: to })));
      let replayed = 0;
      let verified = 0;
      let seconds = 0;
      const calls: number[] = [];
      const queue = [...agents];
      const wall = performance.now();
      await Promise.all(
        Array.from({ length: parallel }, async () => {
          for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
            const t0 = performance.now();
            const r = await manager.replayEvents(id, 1, to);
            calls.push(performance.now() - t0);
            seconds += calls.at(-1)! / 1000;
            replayed += r.eventsReplayed;
            if (r.verified && r.errors.length === 0 && r.checksum === want.get(id)?.checksum) verified++;
            else failures.push(`${scenario}: replayEvents ${id}: verified=${r.verified}, ${r.errors.length} errors, checksum ${r.checksum}`);
          }
        }),
      );
      if (parallel > 1) seconds = (performance.now() - wall) / 1000;
      const folded = snaps.reduce((n, snap) => n + to - (snap?.version ?? 0), 0);
      const callMs = { first: calls[0] ?? NaN, p50: [...calls].sort((x, y) => x - y)[Math.floor(calls.length / 2)] ?? NaN };
      rows.push({ scenario, events: replayed, applied: folded, skipped: 0, seconds, eventsPerSec: replayed / seconds, callMs, check: `${verified}/${agents.length} verified` });
    };
    // The baseline: the same databases read through FerretDB's commands (as before issue 11).
    const bViaFerretdb = await openStore('b', { directReads: false });
    const cViaFerretdb = await openStore('c', { directReads: false });
    const path = env.ferretdbPostgresUrl ? ` [${await b.eventReadPath()}]` : '';
    const basePath = env.ferretdbPostgresUrl ? ` [${await bViaFerretdb.eventReadPath()}]` : '';
    process.stderr.write(`StateManager.replayEvents on ${REPLAY_AGENTS} agents and the long history, both read paths...\n`);
    await replay(`StateManager.replayEvents(id, 1, ${PER_AGENT}) x ${REPLAY_AGENTS}${path}`, b, picked, PER_AGENT, expected);
    await replay(`StateManager.replayEvents(id, 1, ${LONG_EVENTS}) x ${LONG_REPLAYS}, no snapshot${path}`, c, Array<string>(LONG_REPLAYS).fill(longId), LONG_EVENTS, longExpected);
    await replay(`StateManager.replayEvents(id, 1, ${PER_AGENT}) x ${REPLAY_AGENTS}, 4 at a time${path}`, b, picked, PER_AGENT, expected, 4);
    await replay(`baseline: replayEvents(id, 1, ${PER_AGENT}) x ${REPLAY_AGENTS}${basePath}`, bViaFerretdb, picked, PER_AGENT, expected);
    await replay(`baseline: replayEvents(id, 1, ${LONG_EVENTS}) x ${LONG_REPLAYS}, no snapshot${basePath}`, cViaFerretdb, Array<string>(LONG_REPLAYS).fill(longId), LONG_EVENTS, longExpected);
    const rate = (prefixOf: string): number => rows.find((r) => r.scenario.startsWith(prefixOf))?.eventsPerSec ?? NaN;
    const ratios = {
      replayVsRebuild: rate('StateManager.replayEvents(id, 1, ' + PER_AGENT) / rate('rebuild (reset'),
      parallelReplayVsRebuild: (rows.find((r) => r.scenario.includes('4 at a time'))?.eventsPerSec ?? NaN) / rate('rebuild (reset'),
      longReplayVsRebuild: rate('StateManager.replayEvents(id, 1, ' + LONG_EVENTS) / rate('rebuild (reset'),
      replayVsBaseline: rate('StateManager.replayEvents(id, 1, ' + PER_AGENT) / rate('baseline: replayEvents(id, 1, ' + PER_AGENT),
      longReplayVsBaseline: rate('StateManager.replayEvents(id, 1, ' + LONG_EVENTS) / rate('baseline: replayEvents(id, 1, ' + LONG_EVENTS),
    };

    const table = markdownTable(rows, [
      { header: 'scenario', value: (r) => r.scenario, align: 'left' },
      { header: 'events', value: (r) => r.events },
      { header: 'applied', value: (r) => r.applied },
      { header: 'skipped', value: (r) => r.skipped },
      { header: 'seconds', value: (r) => num(r.seconds, 2) },
      { header: 'events/s', value: (r) => num(r.eventsPerSec, 0) },
      { header: 'ms/call first, p50', value: (r) => (r.callMs ? `${num(r.callMs.first, 1)}, ${num(r.callMs.p50, 1)}` : '-') },
      { header: 'check', value: (r) => r.check, align: 'left' },
    ]);
    process.stdout.write(`\nreplay: ${AGENTS} agents x ${PER_AGENT} events (corpus states up to 8 KB, Avro), 6 partitions; first projection ${num(total / first.seconds, 0)} events/s\n\n${table}\n\n`);
    process.stdout.write(
      `ratios (same run): replay/rebuild ${num(ratios.replayVsRebuild, 2)}, 4-at-a-time replay/rebuild ${num(ratios.parallelReplayVsRebuild, 2)}, long replay/rebuild ${num(ratios.longReplayVsRebuild, 2)}, replay/baseline ${num(ratios.replayVsBaseline, 2)}, long replay/baseline ${num(ratios.longReplayVsBaseline, 2)}\n`,
    );
    const file = writeResults(quick ? 'replay-quick' : 'replay', {
      agents: AGENTS,
      eventsPerAgent: PER_AGENT,
      longEvents: LONG_EVENTS,
      ratios,
      quick,
      firstProjection: { events: total, ...first },
      matched: failures.length === 0,
      failures,
      rows,
    });
    process.stdout.write(`results: ${file}\n`);
  } finally {
    for (const store of stores) {
      await store.connection.db.dropDatabase().catch(() => undefined);
      await store.close();
    }
    for await (const o of blobs.list('')) await blobs.delete(o.key);
    await cache.close();
    await blobs.close();
    await log.close();
  }
  if (failures.length > 0) {
    process.stderr.write(
      `\nREPLAY MISMATCH (${failures.length}):\n${failures
        .slice(0, 20)
        .map((f) => `  ${f}`)
        .join('\n')}\n`,
    );
    process.exitCode = 1;
  }
}

function row(scenario: string, events: number, run: { seconds: number; applied: number; skipped: number }, check: string): Row {
  return { scenario, events, applied: run.applied, skipped: run.skipped, seconds: run.seconds, eventsPerSec: events / run.seconds, check };
}

/**
 * Compares every agent's head in `actual` with `reference` (version, epoch,
 * checksum and the decoded state's canonical JSON) and with the corpus's last
 * version and checksum. Returns one line per difference.
 */
async function compareHeads(what: string, reference: MongoStore, actual: MongoStore, ids: string[], expected: Expected): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < ids.length; i += 100) {
    const chunk = ids.slice(i, i + 100);
    const [want, got] = await Promise.all([reference.getStates(chunk), actual.getStates(chunk)]);
    for (const id of chunk) {
      const w = want.get(id);
      const g = got.get(id);
      const e = expected.get(id)!;
      if (!w || !g) {
        out.push(`${what}: ${id} missing (${w ? 'actual' : 'reference'})`);
        continue;
      }
      if (g.version !== e.version || g.checksum !== e.checksum) out.push(`${what}: ${id} at v${g.version} ${g.checksum}, corpus v${e.version} ${e.checksum}`);
      if (g.version !== w.version || g.epoch !== w.epoch || g.checksum !== w.checksum) out.push(`${what}: ${id} head v${g.version}/e${g.epoch} != v${w.version}/e${w.epoch}`);
      const [ws, gs] = await Promise.all([stateOf(w), stateOf(g)]);
      if (gs !== ws) out.push(`${what}: ${id} state differs`);
      if (checksum(parseJson(gs, 'state')) !== g.checksum) out.push(`${what}: ${id} stored state does not hash to its checksum`);
    }
  }
  return out;
}

/** A head's state as canonical JSON (corpus states stay below the claim-check size, so the body is inline). */
async function stateOf(row: StoredState): Promise<string> {
  if (row.body === null) throw new Error(`state of ${row.instanceId} is claim-checked (${row.blobKey}); the corpus states are below the claim-check size`);
  return canonicalJson(stateOfRow(row, await decodeState(row.encoding, row.body)));
}

await main();
