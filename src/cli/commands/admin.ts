import { AgentStateClient } from '../../client/index.js';
import { diff, type JsonValue } from '../../domain/index.js';
import { asString, parse, backendKind, GLOBAL_HELP, UsageError, parsePositiveInt, positionalArgs } from '../args.js';
import { openBackend } from '../backend.js';
import { scanLog } from '../scan.js';
import { archiveOpener } from '../backup-sources.js';

export const rollbackHelp = `agentstate rollback <instanceId> <version> [options]

Moves an agent back to the state it had at <version> by appending a
state_rolled_back event (history stays immutable). Takes ownership of the
agent (raises its writer epoch) to do so.

${GLOBAL_HELP}`;

export const replayHelp = `agentstate replay --group <group> --to <earliest|latest|timestamp|offset> [options]

Resets a consumer group's offsets on the events topic so its consumer (e.g.
the projector) rebuilds its outputs. Refused while the group has active
members. --to takes earliest, latest, an ISO 8601 time, or a plain offset
(applied to every partition).

${GLOBAL_HELP}`;

export const topicsHelp = `agentstate topics [options]

Creates the agentstate topics that are missing (prefix from
AGENTSTATE_TOPIC_PREFIX, default "agentstate.") and checks existing ones:
a topic with the wrong cleanup policy or partition count is reported, never
silently used. Exit code 1 when any topic mismatches.

${GLOBAL_HELP}`;

export async function rollback(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (values.help) return (out(rollbackHelp), 0);
  const [id, v] = positionalArgs(positionals, ['instanceId', 'version'], 'agentstate rollback <instanceId> <version>') as [string, string];
  const target = parsePositiveInt(v, '<version>');
  const backend = await openBackend({ dataDir: values['data-dir'], backend: backendKind(values.backend), env: process.env });
  try {
    const old = (await scanLog(backend, { keep: id, until: (e) => e.version > target, archive: archiveOpener(backend, values['data-dir'], process.env) })).agents.get(id);
    if (!old || old.version !== target) throw new UsageError(`agent ${id} has no version ${target}`);
    // Rolling back to what the agent already holds writes nothing (not even an ownership claim).
    const current = (await scanLog(backend, { keep: id, archive: archiveOpener(backend, values['data-dir'], process.env) })).agents.get(id)!;
    if (current.checksum === old.checksum) {
      const report = { instanceId: id, rolledBackTo: target, newVersion: null, headVersion: current.version, checksum: current.checksum, unchanged: true };
      out(values.json ? JSON.stringify(report, null, 2) : `${id} at version ${current.version} already holds the state of version ${target}; nothing written`);
      return 0;
    }
    const client = await AgentStateClient.connect({ log: backend.log, codec: backend.codec, topicPrefix: backend.prefix, source: 'agentstate-cli' });
    try {
      const head = await client.acquire(id);
      const changes = diff(head.state as unknown as JsonValue, old.state);
      const r = await client.updateState(id, changes, { eventType: 'state_rolled_back', metadata: { rolledBackTo: String(target) } });
      const report = { instanceId: id, rolledBackTo: target, newVersion: r.newVersion, checksum: r.checksum, sameAsTarget: r.checksum === old.checksum };
      out(values.json ? JSON.stringify(report, null, 2) : `rolled ${id} back to version ${target}: new version ${r.newVersion}, checksum ${r.checksum}`);
      return 0;
    } finally {
      await client.close();
    }
  } finally {
    await backend.close();
  }
}

export async function replay(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, { group: { type: 'string' }, to: { type: 'string' } });
  if (values.help) return (out(replayHelp), 0);
  positionalArgs(positionals, [], 'agentstate replay --group <group> --to <earliest|latest|timestamp|offset>');
  const group = asString(values.group);
  const to = asString(values.to);
  if (!group) throw new UsageError('missing --group <group>');
  if (!to) throw new UsageError('missing --to <earliest|latest|timestamp|offset>');
  const backend = await openBackend({ dataDir: values['data-dir'], backend: backendKind(values.backend), env: process.env });
  try {
    const topic = backend.topics.events;
    let offsets;
    if (to === 'earliest' || to === 'latest') offsets = await backend.log.resetGroup(group, topic, { to });
    else if (/^\d+$/.test(to)) {
      const end = await backend.log.endOffsets(topic);
      const per = Object.fromEntries(Object.entries(end).map(([p, e]) => [p, BigInt(to) < BigInt(e) ? to : e]));
      offsets = await backend.log.resetGroup(group, topic, { to: 'offsets', offsets: per });
    } else {
      const t = Date.parse(to);
      if (Number.isNaN(t)) throw new UsageError(`--to: "${to}" is not earliest, latest, an ISO 8601 time or an offset`);
      offsets = await backend.log.resetGroup(group, topic, { to: 'timestamp', timestamp: t });
    }
    out(
      values.json
        ? JSON.stringify({ group: group, topic, offsets }, null, 2)
        : `group ${group} on ${topic} reset to ${Object.entries(offsets)
            .map(([p, o]) => `${p}:${o}`)
            .join(' ')}`,
    );
    return 0;
  } finally {
    await backend.close();
  }
}

export async function topics(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (values.help) return (out(topicsHelp), 0);
  positionalArgs(positionals, [], 'agentstate topics');
  const backend = await openBackend({ dataDir: values['data-dir'], backend: backendKind(values.backend), env: process.env });
  try {
    const problems = await backend.setupTopics();
    const names = Object.values(backend.topics);
    if (values.json) out(JSON.stringify({ topics: names, problems }, null, 2));
    else {
      out(`topics on ${backend.description}: ${names.join(', ')}`);
      for (const p of problems) out(`MISMATCH ${p}`);
      if (!problems.length) out('all present and as expected');
    }
    return problems.length ? 1 : 0;
  } finally {
    await backend.close();
  }
}
