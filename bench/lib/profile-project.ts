/**
 * `node --import tsx bench/lib/profile-project.ts [agents] [perAgent] [profile.cpuprofile]`:
 * the chat-window projection of `npm run bench -- project` alone, in one
 * process, for a profile of the projector (issue 11). The events are appended
 * first (not profiled); then one in-process `runUntilCaughtUp` into an empty
 * database is profiled (when a path is given). Prints one JSON line: events/s,
 * this process's CPU microseconds per event and the share of the wall time its
 * main thread was busy.
 */
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { RedisCache } from '../../src/cache/redis.js';
import { Projector } from '../../src/projector/index.js';
import { MongoStore } from '../../src/store/mongo/index.js';
import { chatWindowEvents } from './chat-log.js';
import { appendRoundRobin } from './corpus-log.js';
import { dropDatabases, pipelineBench } from './pipeline.js';

const [agents = '50', perAgent = '200', profilePath] = process.argv.slice(2);
const { env, stamp, prefix, topics, log, codec, blobs } = await pipelineBench('prof-project');
const cache = new RedisCache({ url: env.redisUrl, prefix: `${prefix}cache:` });
const total = await appendRoundRobin(log, codec, topics.events, chatWindowEvents(Number(agents), Number(perAgent)));
const database = `bench_prof_project_${stamp}`;
const store = await MongoStore.connect({ uri: env.mongodbUri, database, ...(env.ferretdbPostgresUrl === undefined ? {} : { ferretdbPostgresUrl: env.ferretdbPostgresUrl }) });
await store.setup();
const projector = new Projector({ log, codec, store, blobs, cache, topicPrefix: prefix, group: `${prefix}projector`, sweepIntervalMs: 0 });

const session = new Session();
if (profilePath) {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
}
const elu0 = performance.eventLoopUtilization();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const delay = monitorEventLoopDelay();
delay.enable();
await projector.runUntilCaughtUp();
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const elu = performance.eventLoopUtilization(elu0);
delay.disable();
if (profilePath) writeFileSync(profilePath, JSON.stringify((await session.post('Profiler.stop')).profile));
process.stdout.write(
  `${JSON.stringify({ events: total, seconds, eventsPerSec: total / seconds, cpuUsPerEvent: (cpu.user + cpu.system) / total, mainThreadBusy: elu.utilization, loopDelayP99Ms: delay.percentile(99) / 1e6 })}\n`,
);
await store.close();
await dropDatabases(env.mongodbUri, [database]);
await cache.close();
await blobs.close();
await log.close();
process.exit(0);
