import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { MongoSettings } from '../config/env.js';
import { checkLogBinding, type LogBindingReport } from '../integrity/log-binding.js';
import type { EventLog } from '../log/port.js';
import { MongoStore } from '../store/mongo/store.js';
import { SqliteStateStore } from '../store/sqlite/store.js';

/** Where a service finds the state store of its deployment. */
export type StoreLocation = { kind: 'embedded'; dataDir: string } | { kind: 'servers'; mongo: MongoSettings };

/**
 * At start of a service that reads the log but does not project it (backup,
 * analytics, recovery; issue 12 §3): the state store must project this log
 * and not be ahead of it, checked by {@link checkLogBinding} like every
 * projector's start. Opens the store read-only for the check and closes it;
 * an embedded data dir without store.sqlite has nothing to disagree with
 * (undefined, and nothing is created).
 * @throws LogMismatchError (AS_LOG_MISMATCH) naming each problem and the way out
 */
export async function checkStoreMatchesLog(log: EventLog, topic: string, where: StoreLocation): Promise<LogBindingReport | undefined> {
  let store: SqliteStateStore | MongoStore;
  if (where.kind === 'embedded') {
    const path = join(resolve(where.dataDir), 'store.sqlite');
    if (!existsSync(path)) return undefined;
    store = new SqliteStateStore({ path, readOnly: true });
    await store.setup();
  } else {
    store = await MongoStore.connect({ uri: where.mongo.uri, database: where.mongo.database });
  }
  try {
    return await checkLogBinding(log, store, topic);
  } finally {
    await store.close();
  }
}
