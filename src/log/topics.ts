import { ConfigError } from '../errors.js';
import type { TopicSpec } from './port.js';

/**
 * The topic prefix when none is given: every topic, group and cache namespace
 * default derives from it. Written here once; options document it as
 * `@default 'agentstate.'` (checked by test/unit/config/defaults.unit.test.ts).
 */
export const DEFAULT_TOPIC_PREFIX = 'agentstate.';

/** Topic names, all under one prefix (DESIGN.md The shape). */
export interface TopicNames {
  events: string;
  state: string;
  heartbeats: string;
  control: string;
  anomalies: string;
  dlq: string;
  /** Claims of ownership announced before they are appended to events (docs/writer.md "Scoped writers"). */
  claims: string;
}

export interface TopicLayoutOptions {
  /** @default 'agentstate.' (env AGENTSTATE_TOPIC_PREFIX in services and the CLI) */
  prefix?: string;
  /** Partitions of the keyed topics. @default 6 */
  partitions?: number;
  /** @default 1 */
  replicationFactor?: number;
}

/** The projector's consumer group on the events topic, by default: `<prefix>projector`. */
export function projectorGroup(prefix = DEFAULT_TOPIC_PREFIX): string {
  return `${prefix}projector`;
}

/** The recovery service's consumer group, by default `<prefix>recovery`. */
export function recoveryGroup(prefix = DEFAULT_TOPIC_PREFIX): string {
  return `${prefix}recovery`;
}

/** The analytics consumer group on the events topic, by default: `<prefix>analytics`. */
export function analyticsGroup(prefix = DEFAULT_TOPIC_PREFIX): string {
  return `${prefix}analytics`;
}

export function topicNames(prefix = DEFAULT_TOPIC_PREFIX): TopicNames {
  if (!/^[A-Za-z0-9._-]*$/.test(prefix)) throw new ConfigError('topicPrefix', `"${prefix}" may only hold letters, digits, '.', '_' and '-'`);
  return {
    events: `${prefix}events`,
    state: `${prefix}state`,
    heartbeats: `${prefix}heartbeats`,
    control: `${prefix}control`,
    anomalies: `${prefix}anomalies`,
    dlq: `${prefix}dlq`,
    claims: `${prefix}claims`,
  };
}

/**
 * The declarative topic set. Events: never compacted, unlimited retention (it
 * is history). State and heartbeats: compacted, latest per agent.
 */
export function topicSpecs(options: TopicLayoutOptions = {}): TopicSpec[] {
  const names = topicNames(options.prefix);
  const partitions = options.partitions ?? 6;
  const rf = options.replicationFactor ?? 1;
  if (!Number.isInteger(partitions) || partitions < 1) throw new ConfigError('partitions', 'must be a positive integer');
  const spec = (name: string, compacted: boolean, p = partitions): TopicSpec => ({ name, partitions: p, replicationFactor: rf, compacted, retentionMs: -1 });
  return [
    spec(names.events, false),
    spec(names.state, true),
    spec(names.heartbeats, true),
    spec(names.control, false),
    spec(names.anomalies, false),
    spec(names.dlq, false),
    // Not compacted: a later, lower announcement must never hide a higher one from a reader.
    spec(names.claims, false),
  ];
}
