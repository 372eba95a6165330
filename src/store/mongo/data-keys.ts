import { Binary, MongoServerError, type Collection } from 'mongodb';
import { checkDataKey, type DataKeyStore, type WrappedDataKey } from '../data-keys.js';
import { UnavailableError } from '../../errors.js';
import { call, unavailable } from './errors.js';
import type { MongoConnection } from './connection.js';

/** `data_keys` document: `_id` = keyId, so `get` and `create` are `_id` lookups. */
interface DataKeyDoc {
  _id: string;
  instanceId: string;
  version: number;
  masterKeyId: string;
  wrapped: Binary | null;
  createdAt: number;
  destroyedAt: number | null;
}

/** `data_key_shreds` document: `_id` = keyId of a destroyed key. Inserted once, never changed. */
interface ShredDoc {
  _id: string;
  instanceId: string;
  destroyedAt: number;
}

const DUPLICATE_KEY = 11000;

/**
 * The {@link DataKeyStore} port on MongoDB or FerretDB: collection
 * `data_keys`, one document per data key (`_id` = keyId), kept apart from the
 * data the keys protect (DESIGN.md Security).
 *
 * `rewrap` and `destroy` are conditional `updateOne`s, which MongoDB applies
 * atomically. FerretDB 1.24 does not: it reads the matching document, then
 * writes the whole document back in a second step (FerretDB issue #3040), so
 * two conditional updates can both match, and a re-wrap that read the key
 * before a shred writes it back live afterwards. Measured on the dev stack:
 * half of 50 rewrap/destroy races resurrected the key. So a shred is decided
 * by an insert into `data_key_shreds` (`_id` = keyId: unique-key inserts are
 * atomic on both servers, and nothing ever updates that document), and every
 * read applies it. The `data_keys` document is nulled as well, and a re-wrap
 * that lands after a shred nulls it again, so the wrapped bytes do not stay
 * in the database.
 *
 * `get` and `create` go by `_id`, the only lookup FerretDB on SQLite serves
 * without a scan (`get` makes two, in parallel). `listForInstance`, `listAll`
 * and the extra conditions of the updates scan there; they run on encrypt,
 * rotation and shredding.
 *
 * The connection belongs to the caller: this store never closes it.
 */
export class MongoDataKeyStore implements DataKeyStore {
  private readonly keys: Collection<DataKeyDoc>;
  private readonly shreds: Collection<ShredDoc>;

  constructor(private readonly connection: MongoConnection) {
    this.keys = connection.db.collection<DataKeyDoc>('data_keys');
    this.shreds = connection.db.collection<ShredDoc>('data_key_shreds');
  }

  /** Creates the instanceId indexes that `listForInstance` uses; idempotent. */
  async setup(): Promise<void> {
    this.connection.assertOpen('the MongoDB data-key store');
    // One index per createIndexes call (see MongoStore.setup: FerretDB 1.24
    // drops the connection on a multi-index call naming existing indexes).
    await call('create index data_keys.instance_version', () => this.keys.createIndexes([{ key: { instanceId: 1, version: 1 }, name: 'instance_version' }]));
    await call('create index data_key_shreds.instanceId', () => this.shreds.createIndexes([{ key: { instanceId: 1 }, name: 'instanceId' }]));
  }

  async get(keyId: string): Promise<WrappedDataKey | undefined> {
    this.connection.assertOpen('the MongoDB data-key store');
    const [doc, shred] = await call('read data_keys', () => Promise.all([this.keys.findOne({ _id: keyId }), this.shreds.findOne({ _id: keyId })]));
    return doc === null ? undefined : fromDoc(doc, shred);
  }

  async listForInstance(instanceId: string): Promise<WrappedDataKey[]> {
    this.connection.assertOpen('the MongoDB data-key store');
    const [docs, shreds] = await call('list data_keys', () => Promise.all([this.keys.find({ instanceId }).sort({ version: 1 }).toArray(), this.shreds.find({ instanceId }).toArray()]));
    return merge(docs, shreds);
  }

  async listAll(): Promise<WrappedDataKey[]> {
    this.connection.assertOpen('the MongoDB data-key store');
    const [docs, shreds] = await call('list data_keys', () => Promise.all([this.keys.find({}).toArray(), this.shreds.find({}).toArray()]));
    return merge(docs, shreds);
  }

  /** Inserts by `_id`; a duplicate-key error means another writer came first, whose key is returned. */
  async create(key: WrappedDataKey): Promise<WrappedDataKey> {
    this.connection.assertOpen('the MongoDB data-key store');
    checkDataKey(key);
    try {
      await this.keys.insertOne(toDoc(key));
      return { ...key, wrapped: key.wrapped === null ? null : Buffer.from(key.wrapped) };
    } catch (err) {
      if (!(err instanceof MongoServerError && err.code === DUPLICATE_KEY)) throw unavailable('write data_keys', err);
    }
    const stored = await this.get(key.keyId);
    // Keys are never deleted (destroy leaves a tombstone), so the winner is there.
    if (stored === undefined) throw new UnavailableError(`MongoDB (read data_keys: ${JSON.stringify(key.keyId)} reported as existing but not found)`);
    return stored;
  }

  /**
   * A conditional update (the whole compare-and-set on MongoDB), with a look
   * for a shred before it (one left unscrubbed by an interrupted destroy) and
   * after it (one that raced it): if there is one, the bytes are scrubbed and
   * the answer is false. On FerretDB two re-wraps racing each other may both
   * return true; either leaves a consistent record (one document write).
   */
  async rewrap(keyId: string, fromMasterKeyId: string, toMasterKeyId: string, wrapped: Buffer): Promise<boolean> {
    this.connection.assertOpen('the MongoDB data-key store');
    if (await this.scrubIfShredded(keyId)) return false;
    const r = await call('rewrap data_keys', () => this.keys.updateOne({ _id: keyId, masterKeyId: fromMasterKeyId, wrapped: { $ne: null } }, { $set: { masterKeyId: toMasterKeyId, wrapped: new Binary(wrapped) } }));
    return r.matchedCount === 1 && !(await this.scrubIfShredded(keyId));
  }

  /**
   * The shred document's insert decides (exactly one caller gets true); the
   * key document is nulled after it. A crash in between leaves the key
   * destroyed for every reader, and the next destroy of it scrubs the bytes.
   */
  async destroy(keyId: string, at: number): Promise<boolean> {
    this.connection.assertOpen('the MongoDB data-key store');
    const doc = await call('read data_keys', () => this.keys.findOne({ _id: keyId }));
    // Unknown, or created as a tombstone (nothing can ever make that live).
    if (doc === null || doc.wrapped === null || doc.wrapped === undefined) return false;
    const shred: ShredDoc = { _id: keyId, instanceId: doc.instanceId, destroyedAt: at };
    try {
      await this.shreds.insertOne(shred);
    } catch (err) {
      if (!(err instanceof MongoServerError && err.code === DUPLICATE_KEY)) throw unavailable('write data_key_shreds', err);
      await this.scrubIfShredded(keyId);
      return false;
    }
    await this.scrub(shred);
    return true;
  }

  /** Scrubs the key if it has a shred document; returns whether it has one. */
  private async scrubIfShredded(keyId: string): Promise<boolean> {
    const shred = await call('read data_key_shreds', () => this.shreds.findOne({ _id: keyId }));
    if (shred !== null) await this.scrub(shred);
    return shred !== null;
  }

  /** Drops the wrapped bytes of a shredded key. Unconditional: it only ever writes null. */
  private async scrub(shred: ShredDoc): Promise<void> {
    await call('destroy data_keys', () => this.keys.updateOne({ _id: shred._id }, { $set: { wrapped: null, destroyedAt: shred.destroyedAt } }));
  }
}

function toDoc(k: WrappedDataKey): DataKeyDoc {
  return {
    _id: k.keyId,
    instanceId: k.instanceId,
    version: k.version,
    masterKeyId: k.masterKeyId,
    wrapped: k.wrapped === null ? null : new Binary(k.wrapped),
    createdAt: k.createdAt,
    destroyedAt: k.destroyedAt,
  };
}

/** Field by field, so the record has exactly the port's fields and `wrapped` is a Buffer; a shred overrides the document. */
function fromDoc(d: DataKeyDoc, shred: ShredDoc | null | undefined): WrappedDataKey {
  const wrapped = shred == null ? d.wrapped : null;
  return {
    keyId: d._id,
    instanceId: d.instanceId,
    version: d.version,
    masterKeyId: d.masterKeyId,
    wrapped: wrapped == null ? null : Buffer.from(wrapped.buffer.buffer, wrapped.buffer.byteOffset, wrapped.position),
    createdAt: d.createdAt,
    destroyedAt: shred == null ? (d.destroyedAt ?? null) : shred.destroyedAt,
  };
}

function merge(docs: DataKeyDoc[], shreds: ShredDoc[]): WrappedDataKey[] {
  const byId = new Map(shreds.map((s) => [s._id, s]));
  return docs.map((d) => fromDoc(d, byId.get(d._id)));
}
