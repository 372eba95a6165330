import { asString, parse, parseAt, backendKind, GLOBAL_HELP, UsageError, parsePositiveInt, positionalArgs } from '../args.js';
import { openBackend } from '../backend.js';
import { scanLog } from '../scan.js';
import { archiveOpener } from '../backup-sources.js';

export const inspectHelp = `agentstate inspect <instanceId> [options]

Prints an agent's current state, version, writer epoch and checksum.

${GLOBAL_HELP}`;

export const historyHelp = `agentstate history <instanceId> [--limit N] [options]

Lists an agent's events in log order: version, type, epoch, time, changes, and
whether the log accepted it.

${GLOBAL_HELP}`;

export const stateHelp = `agentstate state <instanceId> --at <version|time> [options]

The agent's state as it was at a version (a whole number) or a time (ISO 8601,
e.g. 2026-11-29T10:00:00Z): the fold of its events up to there.

${GLOBAL_HELP}`;

function idOf(positionals: string[], usage: string): string {
  return positionalArgs(positionals, ['instanceId'], usage)[0]!;
}

export async function inspect(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (values.help) return (out(inspectHelp), 0);
  const id = idOf(positionals, 'agentstate inspect <instanceId>');
  const backend = await openBackend({ dataDir: values['data-dir'], backend: backendKind(values.backend), env: process.env, readOnly: true });
  try {
    const scan = await scanLog(backend, { keep: id, archive: archiveOpener(backend, values['data-dir'], process.env) });
    const head = scan.agents.get(id);
    if (!head) throw new UsageError(`agent ${id} not found in ${backend.description}`);
    const report = { instanceId: id, version: head.version, writerEpoch: head.epoch, checksum: head.checksum, state: head.state };
    out(values.json ? JSON.stringify(report, null, 2) : `instanceId ${id}\nversion    ${head.version}\nepoch      ${head.epoch}\nchecksum   ${head.checksum}\nstate\n${JSON.stringify(head.state, null, 2)}`);
    return 0;
  } finally {
    await backend.close();
  }
}

export async function history(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, { limit: { type: 'string' } });
  if (values.help) return (out(historyHelp), 0);
  const id = idOf(positionals, 'agentstate history <instanceId>');
  const limit = asString(values.limit) === undefined ? Infinity : parsePositiveInt(asString(values.limit) ?? '', '--limit');
  const backend = await openBackend({ dataDir: values['data-dir'], backend: backendKind(values.backend), env: process.env, readOnly: true });
  try {
    const scan = await scanLog(backend, { keep: id, archive: archiveOpener(backend, values['data-dir'], process.env) });
    if (scan.history.length === 0) throw new UsageError(`agent ${id} not found in ${backend.description}`);
    const rows = scan.history.slice(-limit).map(({ event: e, accepted, reason }) => ({
      version: e.version,
      eventType: e.eventType,
      writerEpoch: e.writerEpoch,
      timestamp: new Date(e.timestamp).toISOString(),
      changes: e.changeset.length,
      eventId: e.eventId,
      accepted,
      ...(reason === undefined ? {} : { rejectReason: reason }),
    }));
    if (values.json) out(JSON.stringify(rows, null, 2));
    else for (const r of rows) out(`${String(r.version).padStart(6)}  ${r.timestamp}  epoch ${r.writerEpoch}  ${r.eventType.padEnd(22)} ${r.changes} change(s)${r.accepted ? '' : `  REJECTED (${r.rejectReason})`}`);
    return 0;
  } finally {
    await backend.close();
  }
}

export async function stateAt(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, { at: { type: 'string' } });
  if (values.help) return (out(stateHelp), 0);
  const id = idOf(positionals, 'agentstate state <instanceId> --at <version|time>');
  const at = asString(values.at);
  if (!at) throw new UsageError('missing --at <version|time>');
  const point = parseAt(at, '--at');
  const until = 'version' in point ? (e: { version: number }) => e.version > point.version : (e: { timestamp: number }) => e.timestamp > point.time;
  const backend = await openBackend({ dataDir: values['data-dir'], backend: backendKind(values.backend), env: process.env, readOnly: true });
  try {
    const scan = await scanLog(backend, { keep: id, until, archive: archiveOpener(backend, values['data-dir'], process.env) });
    const head = scan.agents.get(id);
    if (!head) throw new UsageError(`agent ${id} has no state at ${at}`);
    if ('version' in point && head.version < point.version) {
      throw new UsageError(`agent ${id} is at version ${head.version}; --at ${point.version} is past its head`);
    }
    const report = { instanceId: id, at, version: head.version, checksum: head.checksum, state: head.state };
    out(values.json ? JSON.stringify(report, null, 2) : `version  ${head.version}\nchecksum ${head.checksum}\n${JSON.stringify(head.state, null, 2)}`);
    return 0;
  } finally {
    await backend.close();
  }
}
