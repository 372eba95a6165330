/**
 * `node --cpu-prof --import tsx bench/lib/profile-chat.ts [agents] [perAgent] [scope]`:
 * the 100-agent chat-window load of `npm run bench -- append` alone, in one
 * process, for a CPU profile of the write path (issue 10). Prints one JSON line.
 */
import { AgentStateClient, RegistryEventCodec } from '../../src/client/index.js';
import { RegistryCodec } from '../../src/codec/index.js';
import { KafkaEventLog } from '../../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../../src/log/topics.js';
import { benchStack } from '../stack.js';
import { chatLoad, createAgents } from './append-load.js';

const [agents = '100', perAgent = '30', scope = 'owned'] = process.argv.slice(2);
const env = await benchStack();
const log = new KafkaEventLog({ brokers: env.kafkaBrokers });
const prefix = `bench-prof-${Date.now().toString(36)}.`;
await log.setup(topicSpecs({ prefix, partitions: 6 }));
const codec = await RegistryEventCodec.create(new RegistryCodec({ url: env.schemaRegistryUrl }), topicNames(prefix).events);
const client = await AgentStateClient.connect({ log, codec, topicPrefix: prefix, source: 'bench-prof', scope: scope as 'owned' | 'fleet' });
const ids = Array.from({ length: Number(agents) }, (_, i) => `p-${i}`);
await createAgents(client, ids, true, 7);
const r = await chatLoad(client, ids, Number(perAgent), 8);
process.stdout.write(`${JSON.stringify({ ...r, eventsPerSec: r.events / r.seconds, view: client.viewStats() })}\n`);
await client.close();
await log.close();
process.exit(0);
