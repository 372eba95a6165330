/**
 * `node --import tsx bench/lib/profile-chat.ts [agents] [perAgent] [scope] [profile.cpuprofile]`:
 * the 100-agent chat-window load of `npm run bench -- append` alone, in one
 * process, for a profile of the write path (issue 10). After a warm-up round
 * (JIT, connections), it profiles the measured round only (when a profile
 * path is given) and times each stage of every update:
 * - build: submit to append (event, checksum, encode);
 * - wait: append to the broker's ack (the batcher's queue and the produce round trip);
 * - decide: ack to decision (the claim feed read, or the partition read).
 * Prints the stages' p50/p99, then one JSON line with CPU microseconds per event.
 */
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { AgentStateClient, RegistryEventCodec } from '../../src/client/index.js';
import { RegistryCodec } from '../../src/codec/index.js';
import { KafkaEventLog } from '../../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../../src/log/topics.js';
import { benchStack } from '../stack.js';
import { chatLoad, createAgents, pct } from './append-load.js';

const [agents = '100', perAgent = '100', scope = 'owned', profilePath] = process.argv.slice(2);
const env = await benchStack();
const log = new KafkaEventLog({ brokers: env.kafkaBrokers });
const prefix = `bench-prof-${Date.now().toString(36)}.`;
await log.setup(topicSpecs({ prefix, partitions: 6 }));
const codec = await RegistryEventCodec.create(new RegistryCodec({ url: env.schemaRegistryUrl }), topicNames(prefix).events);
const client = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, source: 'bench-prof', scope: scope as 'owned' | 'fleet' });
const ids = Array.from({ length: Number(agents) }, (_, i) => `p-${i}`);
await createAgents(client, ids, true, 7);
await chatLoad(client, ids, 20, 8);

// Stage timing: the client's parts are private; this profile reaches them at run time.
type Fn = (...args: never[]) => Promise<unknown>;
const stages = { build: [] as number[], wait: [] as number[], decide: [] as number[] };
const internals = client as unknown as { submitter: { submit: Fn; o: { batcher: { append: Fn } } }; view: { expect: (...a: never[]) => { decided: Fn } } };
const { submitter, view } = internals;
let submitted = 0;
const timed = (fn: Fn, before: () => void, after: (t: number) => void): Fn => {
  return async (...args) => {
    const t = performance.now();
    before();
    const out = await fn(...args);
    after(performance.now() - t);
    return out;
  };
};
submitter.submit = timed(
  submitter.submit.bind(submitter),
  () => (submitted = performance.now()),
  () => undefined,
);
const batcher = submitter.o.batcher;
batcher.append = timed(
  batcher.append.bind(batcher),
  () => stages.build.push(performance.now() - submitted),
  (t) => stages.wait.push(t),
);
const expect = view.expect.bind(view);
view.expect = (...args) => {
  const pending = expect(...args);
  pending.decided = timed(
    pending.decided.bind(pending),
    () => undefined,
    (t) => stages.decide.push(t),
  );
  return pending;
};

const session = new Session();
if (profilePath) {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
}
const cpu0 = process.cpuUsage();
const r = await chatLoad(client, ids, Number(perAgent), 9);
const cpu = process.cpuUsage(cpu0);
if (profilePath) writeFileSync(profilePath, JSON.stringify((await session.post('Profiler.stop')).profile));
for (const [name, values] of Object.entries(stages)) {
  values.sort((a, b) => a - b);
  process.stdout.write(`${name}: p50 ${pct(values, 50).toFixed(2)} ms, p99 ${pct(values, 99).toFixed(2)} ms\n`);
}
process.stdout.write(`${JSON.stringify({ ...r, eventsPerSec: r.events / r.seconds, cpuUsPerEvent: (cpu.user + cpu.system) / r.events, view: client.viewStats() })}\n`);
await client.close();
await log.close();
process.exit(0);
