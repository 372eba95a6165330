import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import type { Collection } from 'mongodb';
import type { DrillRecord, DrillRecorder, DrillTarget } from '../../backup/index.js';
import type { BlobStore } from '../../blob/port.js';
import { S3BlobStore } from '../../blob/s3.js';
import { valueSubject } from '../../codec/schemas.js';
import { readEnv, requireServers } from '../../config/env.js';
import { createKafka } from '../../log/kafka/connection.js';
import { MongoConnection } from '../../store/mongo/connection.js';
import { openSqliteFile } from '../../util/sqlite-open.js';
import { restoreOntoServers } from './restore.js';

/** The scratch names of a drill on servers: a topic (and S3 key) prefix and a MongoDB database. */
export function drillScratchNames(prefix: string, database: string, drillId: string): { prefix: string; database: string } {
  return { prefix: `${prefix}drill-${drillId}.`, database: `${database}_drill_${drillId}`.slice(0, 63) };
}

/**
 * A servers scratch target for `backup drill`: the backup restored under a
 * scratch topic prefix, MongoDB database and S3 prefix (no cache), then
 * everything removed: the scratch topics and consumer groups, the database,
 * the S3 objects under the scratch prefix and the scratch registry subject.
 */
export function serversDrillTarget(env: NodeJS.ProcessEnv, sourcePrefix: string, blobs: BlobStore): (drillId: string) => Promise<DrillTarget> {
  return async (drillId) => {
    const servers = requireServers(readEnv(env));
    const scratch = drillScratchNames(sourcePrefix, servers.mongo.database, drillId);
    const { REDIS_URL: _noCache, ...noCache } = env;
    return {
      where: `topics ${scratch.prefix}*, MongoDB database ${scratch.database}`,
      restore: async () => (await restoreOntoServers(noCache, sourcePrefix, scratch.prefix, scratch.database, blobs, {})).report,
      cleanup: async () => {
        const admin = createKafka({ brokers: servers.kafka.brokers, clientId: 'agentstate-drill' }).admin();
        await admin.connect();
        try {
          const topics = (await admin.listTopics()).filter((t) => t.startsWith(scratch.prefix));
          if (topics.length) await admin.deleteTopics({ topics });
          const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(scratch.prefix));
          if (groups.length) await admin.deleteGroups(groups);
        } finally {
          await admin.disconnect();
        }
        const mongo = await MongoConnection.connect({ uri: servers.mongo.uri, database: scratch.database });
        try {
          await mongo.db.dropDatabase();
        } finally {
          await mongo.close();
        }
        const s3 = new S3BlobStore({ ...servers.s3, prefix: scratch.prefix, createBucket: false });
        try {
          const keys: string[] = [];
          for await (const b of s3.list('')) keys.push(b.key);
          for (const k of keys) await s3.delete(k);
        } finally {
          await s3.close();
        }
        const registry = servers.kafka.schemaRegistryUrl?.replace(/\/$/, '');
        if (registry) {
          // Every subject the restore recreated under the scratch prefix (the backup's subjects, renamed).
          const listed = await fetch(`${registry}/subjects`);
          if (!listed.ok) throw new Error(`registry GET ${registry}/subjects: HTTP ${listed.status}`);
          const scratchSubjects = ((await listed.json()) as string[]).filter((s) => s.startsWith(scratch.prefix));
          for (const name of new Set([...scratchSubjects, valueSubject(`${scratch.prefix}events`)])) {
            const subject = `${registry}/subjects/${encodeURIComponent(name)}`;
            // Soft delete, then hard delete (the registry requires both); a subject never created answers 404.
            for (const url of [subject, `${subject}?permanent=true`]) {
              const res = await fetch(url, { method: 'DELETE' });
              if (!res.ok && res.status !== 404) throw new Error(`registry DELETE ${url}: HTTP ${res.status}`);
            }
          }
        }
      },
    };
  };
}

/** `backup_drills` in MongoDB (the source's database). */
export class MongoDrillRecorder implements DrillRecorder {
  private readonly drills: Collection<DrillRecord>;
  constructor(readonly connection: MongoConnection) {
    this.drills = connection.db.collection<DrillRecord>('backup_drills');
  }
  async record(r: DrillRecord): Promise<void> {
    await this.drills.replaceOne({ drillId: r.drillId }, r, { upsert: true });
  }
  async recent(limit: number): Promise<DrillRecord[]> {
    return (await this.drills
      .find({}, { projection: { _id: 0 } })
      .sort({ startedAt: -1 })
      .limit(limit)
      .toArray()) as DrillRecord[];
  }
  async lastSuccessful(): Promise<DrillRecord | undefined> {
    return (
      (await this.drills
        .find({ ok: true }, { projection: { _id: 0 } })
        .sort({ startedAt: -1 })
        .limit(1)
        .toArray()) as DrillRecord[]
    )[0];
  }
  async close(): Promise<void> {
    await this.connection.close();
  }
}

/** `backup_drills` in `<data-dir>/backup.sqlite` (embedded). */
export class SqliteDrillRecorder implements DrillRecorder {
  private readonly db: Database.Database;
  /**
   * @param readOnly the caller only reads (`backup status`): the file must
   * exist, and in a data dir this user may not write it is read from a
   * private copy (issue 12 §7, openSqliteFile)
   */
  constructor(dataDir: string, readOnly = false) {
    if (!readOnly) mkdirSync(resolve(dataDir), { recursive: true });
    this.db = openSqliteFile(join(resolve(dataDir), 'backup.sqlite'), { readOnly });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec('CREATE TABLE IF NOT EXISTS backup_drills (drill_id TEXT PRIMARY KEY, started_at INTEGER NOT NULL, ok INTEGER NOT NULL, doc TEXT NOT NULL) STRICT');
    this.db.exec('CREATE INDEX IF NOT EXISTS backup_drills_started ON backup_drills (started_at)');
  }
  async record(r: DrillRecord): Promise<void> {
    this.db.prepare('INSERT OR REPLACE INTO backup_drills (drill_id, started_at, ok, doc) VALUES (?, ?, ?, ?)').run(r.drillId, r.startedAt, r.ok ? 1 : 0, JSON.stringify(r));
  }
  async recent(limit: number): Promise<DrillRecord[]> {
    return (this.db.prepare('SELECT doc FROM backup_drills ORDER BY started_at DESC LIMIT ?').all(limit) as { doc: string }[]).map((row) => JSON.parse(row.doc) as DrillRecord);
  }
  async lastSuccessful(): Promise<DrillRecord | undefined> {
    const row = this.db.prepare('SELECT doc FROM backup_drills WHERE ok = 1 ORDER BY started_at DESC LIMIT 1').get() as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as DrillRecord) : undefined;
  }
  async close(): Promise<void> {
    this.db.close();
  }
}
