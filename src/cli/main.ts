#!/usr/bin/env node
/**
 * The `agentstate` command. Errors are one clear line and a non-zero exit;
 * `--json` gives machine output; every command has `--help`.
 */
import { AgentStateError } from '../errors.js';
import { UsageError } from './args.js';
import { redactUrlsIn } from '../util/redact.js';
import { start } from './commands/start.js';
import { status } from './commands/status.js';
import { list } from './commands/list.js';
import { history, inspect, stateAt } from './commands/inspect.js';
import { replay, rollback, topics } from './commands/admin.js';
import { projector, snapshot } from './commands/projector.js';
import { backup } from './commands/backup.js';
import { restore } from './commands/restore.js';
import { runtime } from './commands/runtime.js';
import { recovery } from './commands/recovery.js';
import { analytics, anomalies, top } from './commands/analytics.js';
import { doctor } from './commands/doctor.js';

const HELP = `agentstate: persistence and state management for fleets of AI agents

usage: agentstate <command> [options]      (agentstate <command> --help for more)

commands:
  start       run a demo fleet in this process (what npm start runs)
  status      agents, events, rejected events, snapshots, backend
  list        agents from the state store, by --status, --capability, --agent-type
  inspect     an agent's current state, version and checksum
  history     an agent's events
  state       an agent's state at a version or time (--at)
  rollback    move an agent back to an earlier version (a new event)
  snapshot    take a snapshot of an agent now
  projector   run the projector (state store, snapshots, cache, state topic)
  replay      reset a consumer group's offsets so its outputs are rebuilt
  topics      create and check the agentstate topics
  backup      backup status, backup verify [--deep] (segments in the blob store)
  restore     restore the backup onto empty servers or into a new data dir (--to latest|<time>)
  runtime     run a runtime host: heartbeats, obeys start/stop commands (--node-id N)
  recovery    recovery records (list, show) and auto-recovery policies (policy)
  analytics   an agent's windowed metrics and anomalies (--window 1h)
  anomalies   anomalies flagged by analytics (--since 10m, --type loop)
  top         live table of the busiest, largest, most anomalous agents
  doctor      check the data files (SQLite integrity) and that the store matches its log

Backends: the embedded profile (SQLite in --data-dir, default ./.agentstate)
unless KAFKA_BROKERS is set (then Kafka, plus SCHEMA_REGISTRY_URL for Avro).`;

type Command = (argv: string[], out: (s: string) => void, err: (s: string) => void) => Promise<number>;

const COMMANDS: Record<string, Command> = { start, status, list, inspect, history, state: stateAt, rollback, snapshot, replay, topics, projector, backup, restore, runtime, recovery, analytics, anomalies, top, doctor };

export async function main(argv: string[]): Promise<number> {
  const out = (s: string) => void process.stdout.write(`${s}\n`);
  // Last line of defence for issue 12 §7: a driver's message may quote a connection URL with its password.
  const err = (s: string) => void process.stderr.write(`${redactUrlsIn(s)}\n`);
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    out(HELP);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    err(`agentstate: unknown command "${name}" (try agentstate --help)`);
    return 2;
  }
  try {
    return await command(rest, out, err);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`agentstate ${name}: ${e.message}`);
      return 2;
    }
    if (e instanceof AgentStateError) {
      err(`agentstate ${name}: ${e.code}: ${e.message}`);
      return 1;
    }
    err(`agentstate ${name}: ${(e as Error).message ?? String(e)}`);
    return 1;
  }
}
