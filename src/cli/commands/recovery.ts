import { readEnv } from '../../config/env.js';
import { ENV_SETTING_NAMES, probeServers } from '../../sdk/probe.js';
import { ConfigError } from '../../errors.js';
import { DEFAULT_POLICY, withDefaults, type RecoveryPolicy, type RecoveryRecord } from '../../recovery/index.js';
import { openRecoveryRecords } from '../../sdk/recovery-wiring.js';
import type { RecoveryRecordStore, RecoveryStatus } from '../../store/recovery-records.js';
import { asString, backendKind, GLOBAL_HELP, parse, parseDuration, parsePositiveInt, UsageError } from '../args.js';

export const help = `agentstate recovery list [--agent ID] [--status S] [--limit N]
agentstate recovery show <recoveryId>
agentstate recovery policy <agent-id | agent:ID | type:TYPE | default> [changes]

Recovery records (recovery_records in MongoDB, or store.sqlite embedded) and
auto-recovery policies. A policy applies to one agent (agent:ID, or a bare id),
an agent type (type:TYPE) or everyone (default); the most specific one wins.
Without changes, policy prints the policy in force. Changes:

  --enable | --disable            enableAutoRecovery / disableAutoRecovery
  --approach A                    restart | restore | migrate | recreate
  --target T                      last_known_good | previous_version | clean_state
  --backoff B                     exponential | linear | fixed
  --max-retries N                 attempts after the first
  --base-delay D, --max-delay D   backoff delays (e.g. 500ms, 10s)
  --max-recoveries N --window D   crash loop: more recoveries than N within D mark the agent error

${GLOBAL_HELP}`;

const APPROACHES = ['restart', 'restore', 'migrate', 'recreate'] as const;
const TARGETS = ['last_known_good', 'previous_version', 'clean_state'] as const;
const BACKOFFS = ['exponential', 'linear', 'fixed'] as const;
const STATUSES: RecoveryStatus[] = ['in_progress', 'succeeded', 'failed', 'rejected', 'skipped', 'gave_up'];

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag}: "${value}" is not one of ${allowed.join(', ')}`);
  return value as T;
}

export async function openRecoveryStore(dataDir: string, backend: string): Promise<RecoveryRecordStore> {
  const config = readEnv(process.env);
  const kind = backendKind(backend);
  const servers = kind === 'servers' || (kind === 'auto' && config.kafka !== undefined);
  if (!servers) return openRecoveryRecords({ kind: 'embedded', dataDir });
  if (!config.mongo) throw new ConfigError('MONGODB_URI', 'recovery records are in MongoDB on the servers profile');
  // Within AGENTSTATE_CONNECT_TIMEOUT_MS, or one line naming MongoDB (issue 12 §1): the driver alone waits 30 s.
  await probeServers({ mongo: config.mongo }, ENV_SETTING_NAMES, config.connectTimeoutMs);
  return openRecoveryRecords({ kind: 'servers', mongo: config.mongo });
}

function line(r: RecoveryRecord): string {
  const serving = r.result?.timeToServingMs === undefined ? '' : ` serving after ${(r.result.timeToServingMs / 1000).toFixed(2)}s`;
  const estimated = r.plan?.estimatedDuration === undefined ? '' : `  est ${(r.plan.estimatedDuration / 1000).toFixed(1)}s p=${r.plan.successProbability}`;
  return `${r.recoveryId}  ${r.status}  ${r.failure.type} on ${r.failure.nodeId ?? '-'}  ${new Date(r.createdAt).toISOString()}${r.result?.servingNode ? ` → ${r.result.servingNode}` : ''}${serving}${estimated}${r.result ? `  (${r.result.reason})` : ''}`;
}

export async function recovery(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, {
    agent: { type: 'string' },
    status: { type: 'string' },
    limit: { type: 'string' },
    enable: { type: 'boolean' },
    disable: { type: 'boolean' },
    approach: { type: 'string' },
    target: { type: 'string' },
    backoff: { type: 'string' },
    'max-retries': { type: 'string' },
    'base-delay': { type: 'string' },
    'max-delay': { type: 'string' },
    'max-recoveries': { type: 'string' },
    window: { type: 'string' },
  });
  const [sub, arg, ...rest] = positionals;
  if (values.help || !sub) return (out(help), values.help ? 0 : 2);
  if (rest.length > 0) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`);
  if (!['list', 'show', 'policy'].includes(sub)) throw new UsageError(`unknown subcommand "${sub}" (list, show, policy)`);
  if (sub !== 'list' && !arg) throw new UsageError(`recovery ${sub} needs ${sub === 'show' ? 'a recoveryId' : 'an agent id, agent:ID, type:TYPE or default'}`);
  const store = await openRecoveryStore(values['data-dir'], values.backend);
  try {
    if (sub === 'list') {
      const status = oneOf(asString(values.status), STATUSES, '--status');
      const agent = asString(values.agent);
      const records = await store.list({ ...(agent ? { instanceId: agent } : {}), ...(status ? { status } : {}), limit: parsePositiveInt(asString(values.limit) ?? '50', '--limit') });
      if (values.json) out(JSON.stringify(records, null, 2));
      else if (records.length === 0) out('no recovery records');
      else for (const r of records) out(line(r));
      return 0;
    }
    if (sub === 'show') {
      const r = await store.get(arg!);
      if (!r) {
        out(`no recovery ${arg}`);
        return 1;
      }
      if (values.json) out(JSON.stringify(r, null, 2));
      else {
        out(line(r));
        out(`  evidence  ${JSON.stringify(r.failure.evidence)}`);
        if (r.plan) {
          out(`  plan      ${r.plan.strategy.approach} → ${r.plan.strategy.targetState}, on ${r.plan.targetNode ?? '-'}, attempt ${r.plan.attempts}`);
          // Records written before plans had estimates lack them.
          if (r.plan.estimatedDuration !== undefined) {
            const b = r.plan.estimateBasis;
            const took = r.result?.durationMs === undefined ? '' : `, took ${(r.result.durationMs / 1000).toFixed(2)}s`;
            out(
              `  estimate  ${(r.plan.estimatedDuration / 1000).toFixed(2)}s${took} (${b.durationSamples ? `median of ${b.durationSamples} past` : 'prior: none of this kind yet'}), success probability ${r.plan.successProbability} (${b.outcomes ? `${b.successes} of ${b.outcomes} past succeeded` : 'prior: no outcome of this strategy yet'})`,
            );
            out(`  steps     ${r.plan.plannedSteps.join(' → ')}`);
            out(`  rollback  ${r.plan.rollbackPlan.detail}`);
          }
        }
        for (const s of r.steps) out(`  ${new Date(s.at).toISOString()}  ${s.name.padEnd(15)} ${String(s.ms).padStart(6)} ms  ${s.detail ?? ''}`);
      }
      return 0;
    }
    const scope = arg === 'default' || arg!.startsWith('agent:') || arg!.startsWith('type:') ? arg! : `agent:${arg}`;
    if (values.enable && values.disable) throw new UsageError('--enable and --disable together');
    const current = (await store.getPolicy(scope)) ?? DEFAULT_POLICY;
    const policy: RecoveryPolicy = withDefaults(structuredClone(current));
    let changed = false;
    const set = (fn: () => void): void => {
      fn();
      changed = true;
    };
    if (values.enable) set(() => (policy.enabled = true));
    if (values.disable) set(() => (policy.enabled = false));
    const approach = oneOf(asString(values.approach), APPROACHES, '--approach');
    if (approach) set(() => (policy.strategy.approach = approach));
    const target = oneOf(asString(values.target), TARGETS, '--target');
    if (target) set(() => (policy.strategy.targetState = target));
    const backoff = oneOf(asString(values.backoff), BACKOFFS, '--backoff');
    if (backoff) set(() => (policy.strategy.autoRetry.backoffStrategy = backoff));
    const retries = asString(values['max-retries']);
    if (retries !== undefined) set(() => (policy.strategy.autoRetry.maxRetries = Number(retries === '0' ? 0 : parsePositiveInt(retries, '--max-retries'))));
    const base = asString(values['base-delay']);
    if (base) set(() => (policy.strategy.autoRetry.baseDelayMs = parseDuration(base, '--base-delay')));
    const max = asString(values['max-delay']);
    if (max) set(() => (policy.strategy.autoRetry.maxDelayMs = parseDuration(max, '--max-delay')));
    const maxRec = asString(values['max-recoveries']);
    if (maxRec) set(() => (policy.crashLoop.maxRecoveries = parsePositiveInt(maxRec, '--max-recoveries')));
    const window = asString(values.window);
    if (window) set(() => (policy.crashLoop.windowMs = parseDuration(window, '--window')));
    if (changed) await store.putPolicy(scope, policy);
    out(values.json ? JSON.stringify({ scope, policy }, null, 2) : `${scope}${changed ? ' (saved)' : ''}\n${JSON.stringify(policy, null, 2)}`);
    return 0;
  } finally {
    await store.close();
  }
}
