/**
 * One writer process of `npm run bench -- append` (4 processes x N agents):
 * connects a client with the given scope, creates its own agents, runs the
 * chat load, and prints one JSON line: throughput, latency, its memory, and
 * the bytes its view read from the log.
 * Arguments: <brokers> <registryUrl> <prefix> <index> <agents> <perAgent> <scope>
 */
import { AgentStateClient, RegistryEventCodec } from '../../src/client/index.js';
import { RegistryCodec } from '../../src/codec/index.js';
import { KafkaEventLog } from '../../src/log/kafka/index.js';
import { topicNames } from '../../src/log/topics.js';
import { chatLoad, createAgents } from './append-load.js';

const [brokers, registryUrl, prefix = '', index, agents, perAgent, scope] = process.argv.slice(2);
const log = new KafkaEventLog({ brokers: brokers!.split(',') });
const codec = await RegistryEventCodec.create(new RegistryCodec({ url: registryUrl! }), topicNames(prefix).events);
const client = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, source: `bench-w${index}`, scope: scope as 'owned' | 'fleet' });
const ids = Array.from({ length: Number(agents) }, (_, i) => `w${index}-${i}`);
await createAgents(client, ids, false, Number(index));
const result = await chatLoad(client, ids, Number(perAgent), Number(index));
global.gc?.();
const mem = process.memoryUsage();
const stats = client.viewStats();
process.stdout.write(`${JSON.stringify({ ...result, rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, bytesRead: stats.bytesRead ?? 0, trackedAgents: stats.trackedAgents ?? 0 })}\n`);
await client.close();
await log.close();
// The registry client's keep-alive sockets would hold the process open; the parent waits for its exit.
process.exit(0);
