import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A user error: printed as one line, exit code 2. */
export class UsageError extends Error {}

export const GLOBAL_OPTIONS = {
  'data-dir': { type: 'string', default: './.agentstate' },
  backend: { type: 'string', default: 'auto' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

export const GLOBAL_HELP = `Options for every command:
  --data-dir DIR     embedded profile data directory (default ./.agentstate)
  --backend B        auto | embedded | servers (default auto: servers when KAFKA_BROKERS is set)
  --json             machine-readable output
  -h, --help         this help
Environment: AGENTSTATE_MASTER_KEYS_FILE (JSON key file) or AGENTSTATE_MASTER_KEYS
  (id:base64,...) encrypts snapshot bodies; data keys go to keys.sqlite (embedded)
  or the data_keys collection (servers). AGENTSTATE_CONNECT_TIMEOUT_MS (default
  15000) bounds the wait for each server a command needs.`;

/** Parsed command line: the global flags typed, command options as strings. */
export interface Parsed {
  values: { 'data-dir': string; backend: string; json: boolean; help: boolean; [option: string]: string | boolean | undefined };
  positionals: string[];
}

/** Parses with the global options added; command options are `type: 'string'` or flags (`type: 'boolean'`). */
export function parse(argv: string[], options: Record<string, { type: 'string'; default?: string } | { type: 'boolean'; default?: boolean }>): Parsed {
  try {
    return parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals: true, strict: true }) as never;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The longest duration a flag takes: a year (a timer past 2^31-1 ms is chained, see {@link setLongTimeout}). */
export const MAX_DURATION_MS = 365 * 24 * 3_600_000;

/** "10s", "2m", "1h", "500ms", or a bare number of seconds → milliseconds (at most a year). */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag}: "${text}" is not a duration (examples: 500ms, 10s, 2m, 1h)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms = Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
  if (ms > MAX_DURATION_MS) throw new UsageError(`${flag}: "${text}" is longer than the maximum of 8760h (a year)`);
  return ms;
}

/**
 * setTimeout for any delay: Node fires a timer above 2^31-1 ms (about 24.8
 * days) at once, with a warning, so longer delays are chained.
 */
export function setLongTimeout(fn: () => void, ms: number): { clear(): void } {
  const MAX = 2 ** 31 - 1;
  let timer: NodeJS.Timeout;
  const arm = (left: number): void => {
    timer = setTimeout(() => (left > MAX ? arm(left - MAX) : fn()), Math.min(left, MAX));
  };
  arm(ms);
  return { clear: () => clearTimeout(timer) };
}

/**
 * The command's positional arguments by name: a missing one or an extra one
 * is a usage error (an extra word is usually a mistyped flag).
 */
export function positionalArgs(positionals: string[], names: readonly string[], usage: string): string[] {
  if (positionals.length < names.length) throw new UsageError(`missing <${names[positionals.length]}>; usage: ${usage}`);
  if (positionals.length > names.length) throw new UsageError(`unexpected argument "${positionals[names.length]}"; usage: ${usage}`);
  return positionals;
}

/** A point in an agent's history as `--at` takes it. */
export type At = { version: number } | { time: number };

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A whole version number (1, 2, ...) or an ISO 8601 time, nothing else:
 * `Date.parse` alone reads "3.5" or "hello 5" as dates in 2001. A time in
 * the future is refused (it would silently mean "now").
 */
export function parseAt(text: string, flag: string, now = Date.now()): At {
  if (/^\d+$/.test(text)) {
    const version = Number(text);
    if (!Number.isSafeInteger(version) || version < 1) throw new UsageError(`${flag}: "${text}" is not a version (versions start at 1)`);
    return { version };
  }
  const time = ISO_8601.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(time)) throw new UsageError(`${flag}: "${text}" is neither a whole version number nor an ISO 8601 time (e.g. 2026-11-29T10:00:00Z)`);
  if (time > now) throw new UsageError(`${flag}: ${text} is in the future`);
  return { time };
}

export function parsePositiveInt(text: string, flag: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`${flag}: "${text}" is not a positive whole number`);
  return Number(text);
}

/** Whether a command runs on the servers: `servers`, or `auto` with KAFKA_BROKERS set (else the embedded profile). */
export function usesServers(kind: 'auto' | 'embedded' | 'servers', env: NodeJS.ProcessEnv): boolean {
  return kind === 'servers' || (kind === 'auto' && !!env.KAFKA_BROKERS);
}

export function backendKind(text: string): 'auto' | 'embedded' | 'servers' {
  if (text === 'auto' || text === 'embedded' || text === 'servers') return text;
  throw new UsageError(`--backend: "${text}" is not one of auto, embedded, servers`);
}

/** A string option's value (undefined when absent). */
export function asString(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
