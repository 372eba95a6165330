import { ConfigError } from '../errors.js';
import type { EventLog, ResetTarget } from '../log/port.js';
import { topicNames } from '../log/topics.js';

/**
 * Parses a replay target as the CLI takes it: `earliest`, `latest`, an ISO
 * date or epoch-ms timestamp, or explicit offsets `p:offset,p:offset`
 * (a bare offset applies to every partition via `offsets` on one partition topics).
 * @throws ConfigError naming `--to`
 */
export function parseResetTarget(text: string): ResetTarget {
  if (text === 'earliest' || text === 'latest') return { to: text };
  if (/^\d+(:\d+)(,\d+:\d+)*$/.test(text)) {
    const offsets: Record<number, string> = {};
    for (const part of text.split(',')) {
      const [p, o] = part.split(':') as [string, string];
      offsets[Number(p)] = o;
    }
    return { to: 'offsets', offsets };
  }
  if (/^\d{13}$/.test(text)) return { to: 'timestamp', timestamp: Number(text) };
  if (/^\d+$/.test(text)) return { to: 'offsets', offsets: { 0: text } };
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new ConfigError('--to', `"${text}" is not earliest, latest, a timestamp or <partition>:<offset>[,...]`);
  return { to: 'timestamp', timestamp: t };
}

export interface ResetProjectorGroupOptions {
  log: EventLog;
  /** Consumer group of the projector to rebuild. */
  group: string;
  target: ResetTarget;
  /** @default 'agentstate.' */
  topicPrefix?: string;
}

/**
 * Replay by offset reset (DESIGN.md Replay): moves the projector group on the
 * events topic, so its next run re-reads from there. Refuses with
 * ConflictError while the group has active members. To rebuild outputs from
 * scratch, reset to `earliest` and point the projector at an empty store: a
 * store that already holds newer heads skips what it has (Invariant 4).
 * Returns the new next offsets per partition.
 */
export async function resetProjectorGroup(options: ResetProjectorGroupOptions): Promise<Record<number, string>> {
  if (!options.group) throw new ConfigError('group', 'is required');
  return options.log.resetGroup(options.group, topicNames(options.topicPrefix).events, options.target);
}
