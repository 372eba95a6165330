import type { Collection, Document } from 'mongodb';
import pg from 'pg';
import { unavailable } from './errors.js';
import { encodeFerretdbRow, ferretdbTable, NotEncodable, probeFerretdbRows } from './ferretdb-rows.js';

/**
 * Rows per SQL statement when they go to FerretDB's PostgreSQL directly
 * (ferretdb-rows.ts): one statement of the whole batch is the fastest shape
 * there, as PostgreSQL parses and indexes the rows in one pass.
 */
const ROW_CHUNK = 500;

/**
 * The MongoStore's side door to the PostgreSQL under FerretDB (with
 * `ferretdbPostgresUrl`): its pool, opened on first use, and the direct row
 * path, taken once the probe shows this FerretDB stores documents as
 * ferretdb-rows.ts encodes them.
 */
export class FerretdbPostgres {
  private postgres: pg.Pool | undefined;
  /** Whether rows go to PostgreSQL directly: the probe's answer, asked once. */
  private rowsDirect: Promise<boolean> | undefined;
  /** FerretDB's tables by collection, once they exist. */
  private readonly tables = new Map<string, string>();

  constructor(
    readonly url: string,
    private readonly database: string,
    private readonly directInserts: boolean,
    private readonly directReads: boolean,
    /** The store's driver-call wrapper (open check, error mapping). */
    private readonly call: <T>(what: string, fn: () => Promise<T>) => Promise<T>,
    /** Where the probe writes its document (`store_meta`). */
    private readonly probeCollection: () => Collection<Document>,
  ) {}

  /** The pool, opened on first use. */
  pool(): pg.Pool {
    if (this.postgres === undefined) {
      this.postgres = new pg.Pool({ connectionString: this.url, max: 8, connectionTimeoutMillis: 10_000 });
      // An idle connection that breaks (PostgreSQL restarted) is dropped by the pool; the next query opens another.
      this.postgres.on('error', () => undefined);
    }
    return this.postgres;
  }

  /** Whether rows go to PostgreSQL directly: probed once (a failed probe is asked again). */
  direct(): Promise<boolean> {
    if (!this.directInserts) return Promise.resolve(false);
    return this.knownForm();
  }

  /** Whether this FerretDB stores documents in the form ferretdb-rows.ts writes and ferretdb-reads.ts reads: the probe, asked once (again after a failure). */
  private knownForm(): Promise<boolean> {
    this.rowsDirect ??= this.call('probe FerretDB document rows', () => probeFerretdbRows(this.pool(), this.database, this.probeCollection())).catch((err: unknown) => {
      this.rowsDirect = undefined;
      throw err;
    });
    return this.rowsDirect;
  }

  /** Whether reads go to PostgreSQL directly (`directReads` and the probe). */
  readsDirect(): Promise<boolean> {
    return this.directReads ? this.knownForm() : Promise.resolve(false);
  }

  /** FerretDB's table of `collection`, looked up once it exists; undefined while it does not. */
  private async table(collection: string): Promise<string | undefined> {
    let table = this.tables.get(collection);
    if (table === undefined) {
      table = await this.call(`find the ${collection} table`, () => ferretdbTable(this.pool(), this.database, collection));
      if (table !== undefined) this.tables.set(collection, table);
    }
    return table;
  }

  /**
   * Runs `read` on FerretDB's table of `collection` when reads go to
   * PostgreSQL directly (`directReads` and the probe) and the table exists;
   * undefined otherwise (the caller reads through FerretDB).
   * @throws AgentStateError AS_UNAVAILABLE when PostgreSQL refuses or cannot be reached
   */
  async read<T>(collection: string, what: string, read: (pool: pg.Pool, table: string) => Promise<T>): Promise<T | undefined> {
    if (!(await this.readsDirect())) return undefined;
    const table = await this.table(collection);
    if (table === undefined) return undefined;
    try {
      return await read(this.pool(), table);
    } catch (err) {
      // The collection was dropped (its table is gone): look it up again next time.
      if ((err as { code?: unknown }).code === '42P01') this.tables.delete(collection);
      throw unavailable(`${what} (PostgreSQL under FerretDB)`, err);
    }
  }

  /**
   * Writes documents into FerretDB's table of `collection` with `write` (one
   * statement per {@link ROW_CHUNK} rows) when rows go to PostgreSQL directly
   * and the table exists; undefined otherwise (all of them go through
   * FerretDB, which creates the collection). `rest`: the documents with a
   * value the encoder does not write, left for FerretDB.
   */
  async write<D extends { _id: string }>(
    collection: string,
    docs: D[],
    write: (pool: pg.Pool, table: string, rows: string[]) => Promise<number>,
  ): Promise<{ chunks: Array<{ rows: number; written: number }>; rest: D[] } | undefined> {
    if (!(await this.direct())) return undefined;
    const table = await this.table(collection);
    if (table === undefined) return undefined;
    const rest: D[] = [];
    const rows: string[] = [];
    for (const d of docs) {
      try {
        rows.push(encodeFerretdbRow(d));
      } catch (err) {
        if (!(err instanceof NotEncodable)) throw err;
        rest.push(d);
      }
    }
    const chunks: string[][] = [];
    for (let i = 0; i < rows.length; i += ROW_CHUNK) chunks.push(rows.slice(i, i + ROW_CHUNK));
    // Settled, not raced: no statement of a failed write is still running when the caller retries it.
    const settled = await Promise.allSettled(chunks.map((chunk) => write(this.pool(), table, chunk)));
    const done: Array<{ rows: number; written: number }> = [];
    for (const [i, r] of settled.entries()) {
      if (r.status === 'rejected') {
        // The collection was dropped (its table is gone): look it up again on the retry.
        if ((r.reason as { code?: unknown }).code === '42P01') this.tables.delete(collection);
        throw unavailable(`write ${collection} (PostgreSQL under FerretDB)`, r.reason);
      }
      done.push({ rows: chunks[i]!.length, written: r.value });
    }
    return { chunks: done, rest };
  }

  async close(): Promise<void> {
    await this.postgres?.end().catch(() => undefined);
  }
}
