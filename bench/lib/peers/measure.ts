/**
 * What the peers benchmark measures besides latency: bytes stored (files,
 * Kafka segments, PostgreSQL relations) and CPU time of this process and of
 * the dev stack's server processes (read from /proc, children included).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * The dev stack instance's directory, as scripts/stack lays it out:
 * AGENTSTATE_STACK_DIR (default ~/.cache/agentstate/stack), or its
 * `instances/<name>` for a private AGENTSTATE_STACK_INSTANCE.
 */
export function stackDir(env: NodeJS.ProcessEnv = process.env): string {
  const root = env.AGENTSTATE_STACK_DIR ?? join(homedir(), '.cache', 'agentstate', 'stack');
  return env.AGENTSTATE_STACK_INSTANCE ? join(root, 'instances', env.AGENTSTATE_STACK_INSTANCE) : root;
}

/** Bytes of every regular file under `dir` whose name passes `keep`. */
export function dirBytes(dir: string, keep: (name: string) => boolean = () => true): number {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += dirBytes(p, keep);
    else if (e.isFile() && keep(e.name)) n += statSync(p).size;
  }
  return n;
}

/**
 * Bytes of the segments (`*.log`) of the topics named by `prefix` in Kafka's
 * log directory: the record batches as stored (index files are preallocated,
 * so they are left out).
 */
export function kafkaTopicBytes(logDir: string, prefix: string): number {
  if (!existsSync(logDir)) return 0;
  let n = 0;
  for (const e of readdirSync(logDir, { withFileTypes: true })) {
    if (e.isDirectory() && e.name.startsWith(prefix)) n += dirBytes(join(logDir, e.name), (f) => f.endsWith('.log'));
  }
  return n;
}

/** Sizes in PostgreSQL: a whole database, or one FerretDB database (a schema of FerretDB's database). */
export class PgSizes {
  private constructor(private readonly client: pg.Client) {}

  static async connect(url: string): Promise<PgSizes> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    return new PgSizes(client);
  }

  async database(name: string): Promise<number> {
    const r = await this.client.query<{ n: string }>('SELECT pg_database_size($1)::text AS n', [name]);
    return Number(r.rows[0]?.n ?? 0);
  }

  /** Tables, their TOAST and indexes, of one schema (FerretDB v1 maps a MongoDB database to a schema). */
  async schema(name: string): Promise<number> {
    const r = await this.client.query<{ n: string }>(
      `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::text AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
       WHERE s.nspname = $1 AND c.relkind = 'r'`,
      [name],
    );
    return Number(r.rows[0]?.n ?? 0);
  }

  async exec(sql: string): Promise<void> {
    await this.client.query(sql);
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}

const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system, finished children included) of the stack's servers and their descendants. */
export function serverCpuSeconds(dir = stackDir()): number {
  return Object.values(serverCpuByServer(dir)).reduce((a, b) => a + b, 0);
}

/** {@link serverCpuSeconds} per server, named as its pid file in the stack's `run/` (`postgres`, `mongo`, `kafka-1`, ...). */
export function serverCpuByServer(dir = stackDir()): Record<string, number> {
  const run = join(dir, 'run');
  if (!existsSync(run)) return {};
  const roots = readdirSync(run)
    .filter((f) => f.endsWith('.pid'))
    // `<pid> <start time>` (scripts/stack), or a bare pid.
    .map((f) => ({ name: f.slice(0, -'.pid'.length), pid: Number(readFileSync(join(run, f), 'utf8').trim().split(/\s+/)[0]) }))
    .filter((r) => Number.isSafeInteger(r.pid) && r.pid > 0);
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const s = readFileSync(`/proc/${e}/stat`, 'utf8');
      // Fields after the command name, which may hold spaces: state ppid ... utime(14) stime(15) cutime(16) cstime(17).
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(e), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
    } catch {
      // The process ended while we listed: its time went to its parent's cutime.
    }
  }
  const out: Record<string, number> = {};
  for (const { name, pid } of roots) {
    if (!stats.has(pid)) continue;
    const tree = new Set([pid]);
    for (let grew = true; grew;) {
      grew = false;
      for (const [p, s] of stats) if (!tree.has(p) && tree.has(s.ppid)) (tree.add(p), (grew = true));
    }
    let ticks = 0;
    for (const p of tree) ticks += stats.get(p)!.ticks;
    out[name] = ticks / TICKS_PER_SECOND;
  }
  return out;
}

/** CPU seconds of this process so far. */
export function clientCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
