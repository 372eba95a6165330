import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import { DEFAULT_TOPIC_PREFIX } from '../log/topics.js';
import type { Compatibility, RegistryCodec } from './registry.js';

/** The schemas that make up the wire contract, by file name in `schemas/`. */
export const SCHEMA_NAMES = ['StateEvent', 'AgentState', 'SnapshotHeader', 'Heartbeat', 'ControlCommand', 'Anomaly'] as const;
/** One of {@link SCHEMA_NAMES}. */
export type SchemaName = (typeof SCHEMA_NAMES)[number];

/**
 * Finds `schemas/` by walking up from this file: it is `../../schemas` from
 * `src/codec` and `../../../schemas` from `dist/src/codec`, and the package
 * ships it at its root (package.json `files`).
 */
function schemasDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'schemas');
    if (existsSync(join(candidate, 'StateEvent.avsc'))) return candidate;
    dir = dirname(dir);
  }
  throw new ConfigError('schemas', 'cannot find the schemas/ folder with StateEvent.avsc above ' + fileURLToPath(import.meta.url));
}

const cache = new Map<SchemaName, object>();

/** The parsed Avro schema `schemas/<name>.avsc` (read once, then cached). */
export function loadSchema(name: SchemaName): object {
  let schema = cache.get(name);
  if (schema === undefined) {
    schema = JSON.parse(readFileSync(join(schemasDir(), `${name}.avsc`), 'utf8')) as object;
    cache.set(name, schema);
  }
  return schema;
}

/** Which schema is the value of which topic (suffix after the configurable prefix, DESIGN.md topics). */
export const TOPIC_SCHEMAS: Readonly<Record<string, SchemaName>> = {
  events: 'StateEvent',
  state: 'AgentState',
  heartbeats: 'Heartbeat',
  control: 'ControlCommand',
  anomalies: 'Anomaly',
  snapshots: 'SnapshotHeader',
};

/** Confluent TopicNameStrategy subject for a topic's values: `<topic>-value`. */
export function valueSubject(topic: string): string {
  return `${topic}-value`;
}

/**
 * Registers every topic's value schema under BACKWARD compatibility (DESIGN.md
 * Wire format) and returns the schema ids by topic suffix.
 * @param prefix topic prefix, e.g. `agentstate.` @default 'agentstate.'
 */
export async function registerAll(codec: RegistryCodec, prefix = DEFAULT_TOPIC_PREFIX, compatibility: Compatibility = 'BACKWARD'): Promise<Record<string, number>> {
  const ids: Record<string, number> = {};
  for (const [suffix, name] of Object.entries(TOPIC_SCHEMAS)) {
    ids[suffix] = await codec.register(valueSubject(prefix + suffix), loadSchema(name), { compatibility });
  }
  return ids;
}
