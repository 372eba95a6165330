import type Database from 'better-sqlite3';
import { run } from './errors.js';

/**
 * Prepared statements cached by SQL text, each reading integers one fixed way
 * whatever default the database has (a caller-owned database may have set
 * `defaultSafeIntegers` either way): as bigint with `safeIntegers`, else as
 * numbers.
 */
export class StatementCache {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    private readonly db: Database.Database,
    private readonly safeIntegers: boolean,
    private readonly what: string,
  ) {}

  get(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = run(this.what, () => this.db.prepare(sql));
      if (s.reader) s.safeIntegers(this.safeIntegers);
      this.statements.set(sql, s);
    }
    return s;
  }

  clear(): void {
    this.statements.clear();
  }
}
