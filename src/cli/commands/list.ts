import { MAX_QUERY_LIMIT } from '../../store/query.js';
import type { AgentSummary, StateFilter } from '../../store/port.js';
import { openStoreOnly } from '../store-only.js';
import { asString, backendKind, GLOBAL_HELP, parse, parsePositiveInt, UsageError } from '../args.js';

export const help = `agentstate list [options]

Lists agents from the projector's state store (never folds the log), in id
order, filtered by the queryable fields of docs/store.md.

Options:
  --status S         only agents whose status is S (e.g. error, running)
  --capability C     only agents whose capabilities include C
  --agent-type T     only agents of type T
  --limit N          at most N agents, 1..${MAX_QUERY_LIMIT} (default 100); --json prints nextCursor for more
  --cursor X         continue after a previous --json page's nextCursor

Reads ${'<data-dir>'}/store.sqlite (embedded) or MONGODB_URI, database
AGENTSTATE_MONGO_DATABASE (default agentstate) (servers).

${GLOBAL_HELP}`;

const OPTIONS = {
  status: { type: 'string' },
  capability: { type: 'string' },
  'agent-type': { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
} as const;

export async function list(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS);
  if (values.help) return (out(help), 0);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (filters are --status, --capability, --agent-type)`);
  const filter: StateFilter = {};
  for (const [flag, field] of [
    ['status', 'status'],
    ['capability', 'capability'],
    ['agent-type', 'agentType'],
  ] as const) {
    const v = asString(values[flag]);
    if (v === undefined) continue;
    if (v.trim() === '') throw new UsageError(`--${flag}: must not be empty`);
    filter[field] = v;
  }
  const limit = asString(values.limit);
  if (limit !== undefined) {
    filter.limit = parsePositiveInt(limit, '--limit');
    if (filter.limit > MAX_QUERY_LIMIT) throw new UsageError(`--limit: at most ${MAX_QUERY_LIMIT}`);
  }
  const cursor = asString(values.cursor);
  if (cursor !== undefined) filter.cursor = cursor;
  const store = await openStoreOnly(backendKind(values.backend), values['data-dir'], process.env, 'list agents');
  if (store === undefined) {
    // Nothing projected yet: an empty list, not an error (and no store file created).
    if (values.json) out(JSON.stringify({ agents: [], nextCursor: null }, null, 2));
    else out('no agents (no state store yet: run the projector, or agentstate start)');
    return 0;
  }
  try {
    // One query on the queryable fields: no state body, no history, no log.
    const page = await store.query(filter);
    if (values.json) out(JSON.stringify(page, null, 2));
    else printTable(page.agents, page.nextCursor !== null, out);
    return 0;
  } finally {
    await store.close();
  }
}

function printTable(agents: AgentSummary[], more: boolean, out: (s: string) => void): void {
  if (agents.length === 0) return out('no agents match');
  const rows = agents.map((a) => [a.instanceId, a.agentType ?? '-', a.status ?? '-', String(a.version), new Date(a.updatedAt).toISOString(), a.capabilities.join(',') || '-']);
  const head = ['INSTANCE', 'TYPE', 'STATUS', 'VERSION', 'UPDATED', 'CAPABILITIES'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
  if (more) out(`(more: --limit or --json for the next cursor)`);
}
