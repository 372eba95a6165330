import { MongoClient, type Db, type MongoClientOptions } from 'mongodb';
import { ClosedError, ConfigError } from '../../errors.js';

export interface MongoConnectionOptions {
  /** A client the caller owns (never closed here). Else one is opened from `uri`. */
  client?: MongoClient;
  /** mongodb://host:port/ (TLS and auth options go in the URI or `clientOptions`). */
  uri?: string;
  /** Database name. @default 'agentstate' */
  database?: string;
  clientOptions?: MongoClientOptions;
}

/**
 * One MongoDB (or MongoDB-wire, e.g. FerretDB) connection. Code here sticks to
 * what both support: no transactions, no change streams, no client-level
 * bulkWrite; collection bulkWrite, upserts and unique indexes.
 */
export class MongoConnection {
  readonly client: MongoClient;
  readonly db: Db;
  private readonly ownsClient: boolean;
  private closed = false;

  private constructor(client: MongoClient, database: string, ownsClient: boolean) {
    this.client = client;
    this.db = client.db(database);
    this.ownsClient = ownsClient;
  }

  static async connect(options: MongoConnectionOptions): Promise<MongoConnection> {
    const database = options.database ?? 'agentstate';
    if (!/^[A-Za-z0-9_-]{1,63}$/.test(database)) throw new ConfigError('database', `"${database}" is not a valid database name`);
    if (options.client) return new MongoConnection(options.client, database, false);
    if (!options.uri) throw new ConfigError('uri', 'a MongoDB uri or client is required');
    const client = new MongoClient(options.uri, { serverSelectionTimeoutMS: 10_000, ...options.clientOptions });
    await client.connect();
    return new MongoConnection(client, database, true);
  }

  /**
   * Throws ClosedError once {@link close} was called: the driver would
   * otherwise reconnect on the next operation (or fail it as "retryable").
   */
  assertOpen(what: string): void {
    if (this.closed) throw new ClosedError(what);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) await this.client.close();
  }
}
