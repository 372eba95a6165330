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
  or the data_keys collection (servers).`;

/** Parsed command line: the global flags typed, command options as strings. */
export interface Parsed {
  values: { 'data-dir': string; backend: string; json: boolean; help: boolean; [option: string]: string | boolean | undefined };
  positionals: string[];
}

/** Parses with the global options added; command options must be `type: 'string'`. */
export function parse(argv: string[], options: Record<string, { type: 'string'; default?: string }>): Parsed {
  try {
    return parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals: true, strict: true }) as never;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** "10s", "2m", "1h", "500ms", or a bare number of seconds → milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag}: "${text}" is not a duration (examples: 500ms, 10s, 2m, 1h)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}

export function parsePositiveInt(text: string, flag: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`${flag}: "${text}" is not a positive whole number`);
  return Number(text);
}

export function backendKind(text: string): 'auto' | 'embedded' | 'servers' {
  if (text === 'auto' || text === 'embedded' || text === 'servers') return text;
  throw new UsageError(`--backend: "${text}" is not one of auto, embedded, servers`);
}

/** A string option's value (undefined when absent). */
export function asString(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
