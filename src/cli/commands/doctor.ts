import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cleanMessage } from '../../domain/record.js';
import { describeLogProblem, inspectLogBinding } from '../../integrity/log-binding.js';
import { sqliteIntegrityCheck } from '../../integrity/sqlite-check.js';
import type { StateStore } from '../../store/port.js';
import { backendKind, GLOBAL_HELP, parse, positionalArgs, usesServers } from '../args.js';
import { openBackend, type Backend } from '../backend.js';
import { openStoreOnly } from '../store-only.js';

export const help = `agentstate doctor [options]

Checks that nothing has silently diverged, and reports each check:
  sqlite     (embedded) PRAGMA integrity_check on log.sqlite, store.sqlite and
             keys.sqlite, read-only: a corrupt page is named here
  log        the state store projects this log: the log identity it was bound
             to (a UUID in log.sqlite, the cluster id on Kafka) and the topic
             are the configured ones, and no state comes from a position the
             log does not have (an emptied or replaced log is behind the store)
Nothing is created or changed. Exit 0 when every check passes, 1 otherwise.
To rebuild a store from the log it no longer matches: agentstate projector --rebuild
(or agentstate start --rebuild); docs/operations.md, "The store and its log".

${GLOBAL_HELP}`;

/** One check's outcome. */
export interface DoctorCheck {
  check: string;
  ok: boolean;
  detail: string;
}

export async function doctor(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (values.help) return (out(help), 0);
  positionalArgs(positionals, [], 'agentstate doctor');
  const checks: DoctorCheck[] = [];
  const kind = backendKind(values.backend);
  const embedded = !usesServers(kind, process.env);
  let healthy = true;
  if (embedded) {
    const dir = resolve(values['data-dir']);
    for (const file of ['log.sqlite', 'store.sqlite', 'keys.sqlite']) {
      const path = join(dir, file);
      // The log must exist; the store and keys only once a projector or a key was written.
      if (file !== 'log.sqlite' && !existsSync(path)) continue;
      const c = sqliteIntegrityCheck(path);
      checks.push({ check: `sqlite ${file}`, ok: c.ok, detail: c.detail });
      healthy &&= c.ok;
    }
  }
  // A damaged file is not opened by the adapters (they would fail, or write their tables into it).
  if (healthy) checks.push(...(await logChecks(values['data-dir'], kind)));
  else checks.push({ check: 'log', ok: false, detail: 'not checked: a database file is damaged (restore it from a backup, or rebuild)' });
  const ok = checks.every((c) => c.ok);
  if (values.json) out(JSON.stringify({ ok, checks }, null, 2));
  else for (const c of checks) out(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.check.padEnd(18)} ${c.detail}`);
  return ok ? 0 : 1;
}

async function logChecks(dataDir: string, kind: 'auto' | 'embedded' | 'servers'): Promise<DoctorCheck[]> {
  let backend: Backend | undefined;
  let store: StateStore | undefined;
  try {
    backend = await openBackend({ dataDir, backend: kind, env: process.env, readOnly: true });
    store = await openStoreOnly(backend.kind, dataDir, process.env, 'check the state store');
    if (!store) return [{ check: 'log', ok: true, detail: 'no state store yet: nothing to compare with the log' }];
    const r = await inspectLogBinding(backend.log, store, backend.topics.events);
    const bound = r.binding ? `bound to ${r.binding.logId}` : 'never bound (no projector ran since bindings exist)';
    if (r.problems.length === 0) return [{ check: 'log', ok: true, detail: `the store projects ${r.logId} topic ${r.topic} (${bound})` }];
    return r.problems.map((p) => ({ check: `log ${p.kind}`, ok: false, detail: describeLogProblem(p) }));
  } catch (err) {
    return [{ check: 'log', ok: false, detail: cleanMessage(err) }];
  } finally {
    await store?.close();
    await backend?.close();
  }
}
