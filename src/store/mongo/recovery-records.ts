import { MongoServerError, type Collection } from 'mongodb';
import { applyFilter, type RecordFilter, type RecoveryPolicy, type RecoveryRecord, type RecoveryRecordStore } from '../recovery-records.js';
import { call, unavailable } from './errors.js';
import type { MongoConnection } from './connection.js';

const DUPLICATE_KEY = 11000;

type RecordDoc = RecoveryRecord & { _id: string };
interface ClaimDoc {
  _id: string;
  owner: string;
  claimedAt: number;
}
type PolicyDoc = { _id: string } & RecoveryPolicy;

/**
 * The {@link RecoveryRecordStore} port on MongoDB or FerretDB: collections
 * `recovery_records` (`_id` = recoveryId, the record's fields as real fields),
 * `recovery_claims` and `recovery_policies` (`_id` = scope). Who works on a
 * recovery is decided by unique-key inserts only (`create`, `claim`): FerretDB
 * applies conditional updates as read-then-write (see MongoDataKeyStore), so
 * a compare-and-set on the record could let two detectors both win.
 * The connection belongs to the caller.
 */
export class MongoRecoveryRecordStore implements RecoveryRecordStore {
  private readonly records: Collection<RecordDoc>;
  private readonly claims: Collection<ClaimDoc>;
  private readonly policies: Collection<PolicyDoc>;

  constructor(connection: MongoConnection) {
    this.records = connection.db.collection<RecordDoc>('recovery_records');
    this.claims = connection.db.collection<ClaimDoc>('recovery_claims');
    this.policies = connection.db.collection<PolicyDoc>('recovery_policies');
  }

  async setup(): Promise<void> {
    // One index per call (FerretDB, see MongoStore.setup).
    await call('create index recovery_records.instanceId', () => this.records.createIndexes([{ key: { instanceId: 1, createdAt: -1 }, name: 'instance_created' }]));
    await call('create index recovery_records.status', () => this.records.createIndexes([{ key: { status: 1 }, name: 'status' }]));
  }

  async create(record: RecoveryRecord): Promise<boolean> {
    try {
      await this.records.insertOne({ _id: record.recoveryId, ...record });
      return true;
    } catch (err) {
      if (err instanceof MongoServerError && err.code === DUPLICATE_KEY) return false;
      throw unavailable('write recovery_records', err);
    }
  }

  async claim(recoveryId: string, generation: number, owner: string): Promise<boolean> {
    try {
      await this.claims.insertOne({ _id: `${recoveryId}#${generation}`, owner, claimedAt: Date.now() });
      return true;
    } catch (err) {
      if (err instanceof MongoServerError && err.code === DUPLICATE_KEY) return false;
      throw unavailable('write recovery_claims', err);
    }
  }

  async save(record: RecoveryRecord): Promise<void> {
    await call('write recovery_records', () => this.records.replaceOne({ _id: record.recoveryId }, { ...record }, { upsert: true }));
  }

  async get(recoveryId: string): Promise<RecoveryRecord | undefined> {
    const doc = await call('read recovery_records', () => this.records.findOne({ _id: recoveryId }));
    return doc === null ? undefined : strip(doc);
  }

  async list(filter: RecordFilter = {}): Promise<RecoveryRecord[]> {
    const query: Record<string, unknown> = {};
    if (filter.instanceId !== undefined) query.instanceId = filter.instanceId;
    if (filter.status !== undefined) query.status = filter.status;
    if (filter.since !== undefined) query.createdAt = { $gte: filter.since };
    const docs = await call('read recovery_records', () =>
      this.records
        .find(query)
        .sort({ createdAt: -1 })
        .limit(filter.limit ?? 100)
        .toArray(),
    );
    return applyFilter(docs.map(strip), filter);
  }

  async getPolicy(scope: string): Promise<RecoveryPolicy | undefined> {
    const doc = await call('read recovery_policies', () => this.policies.findOne({ _id: scope }));
    if (doc === null) return undefined;
    const { _id, ...policy } = doc;
    return policy;
  }

  async putPolicy(scope: string, policy: RecoveryPolicy): Promise<void> {
    await call('write recovery_policies', () => this.policies.replaceOne({ _id: scope }, { ...policy }, { upsert: true }));
  }

  async listPolicies(): Promise<{ scope: string; policy: RecoveryPolicy }[]> {
    const docs = await call('read recovery_policies', () => this.policies.find({}).sort({ _id: 1 }).toArray());
    return docs.map(({ _id, ...policy }) => ({ scope: _id, policy }));
  }

  async close(): Promise<void> {}
}

function strip(doc: RecordDoc): RecoveryRecord {
  const { _id, ...record } = doc;
  return record;
}
