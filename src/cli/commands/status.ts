import { parse, backendKind, GLOBAL_HELP, positionalArgs } from '../args.js';
import { openBackend } from '../backend.js';
import { scanLog } from '../scan.js';
import type { Backend } from '../backend.js';
import { openStoreOnly } from '../store-only.js';
import type { StoreCounts } from '../../store/port.js';

/** The projector's store counts, when there is a store to read (never creates one; needs neither S3 nor Redis). */
async function storeCounts(backend: Backend, dataDir: string): Promise<StoreCounts | undefined> {
  if (backend.kind === 'servers' && !process.env.MONGODB_URI) return undefined;
  const store = await openStoreOnly(backend.kind, dataDir, process.env);
  if (!store) return undefined;
  try {
    return await store.counts();
  } finally {
    await store.close();
  }
}

export const help = `agentstate status [options]

Counts what the log holds: agents, events, rejected events (by reason),
snapshots, and which backend is in use.

${GLOBAL_HELP}`;

export async function status(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (values.help) return out(help), 0;
  positionalArgs(positionals, [], 'agentstate status');
  const backend = await openBackend({ dataDir: values['data-dir'], backend: backendKind(values.backend), env: process.env, readOnly: true });
  try {
    const scan = await scanLog(backend);
    const counts = await storeCounts(backend, values['data-dir']);
    const versions = [...scan.agents.values()].map((p) => p.version);
    const report = {
      backend: backend.kind,
      location: backend.description,
      agents: scan.agents.size,
      events: scan.events,
      rejected: scan.rejected,
      rejectedByReason: scan.rejectedByReason,
      snapshots: counts?.snapshots ?? 0,
      projectedAgents: counts?.agents ?? null,
      maxVersion: versions.length ? Math.max(...versions) : 0,
    };
    if (values.json) out(JSON.stringify(report, null, 2));
    else {
      out(`backend    ${report.location}`);
      out(`agents     ${report.agents}`);
      out(`events     ${report.events}`);
      out(`rejected   ${report.rejected}${report.rejected ? ` (${Object.entries(report.rejectedByReason).map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}`);
      out(`snapshots  ${report.snapshots}`);
      if (report.projectedAgents !== null) out(`projected  ${report.projectedAgents} agents in the state store`);
      out(`max version ${report.maxVersion}`);
    }
    return 0;
  } finally {
    await backend.close();
  }
}
