import type { BlobStore } from '../blob/port.js';
import type { RegistryCodec } from '../codec/registry.js';
import { AlreadyExistsError, NotFoundError } from '../errors.js';
import { parseJson } from '../domain/index.js';

/**
 * The schema registry's part of a backup (issue 14). Archived values are
 * Confluent frames (magic 0, 4-byte schema id, Avro body); the id means
 * something only to the registry that assigned it. The backup keeps the text
 * of every schema id its segments use, so a restore onto an empty registry
 * (or one that numbers schemas differently) registers the same schemas again
 * and rewrites the 4 id bytes; the Avro body is never touched.
 */

/** `backup/registry/schemas/<id>`: one immutable JSON object per schema id. */
export const schemaKey = (id: number): string => `backup/registry/schemas/${id}`;
const SCHEMAS_PREFIX = 'backup/registry/schemas/';
const FORMAT = 'agentstate.backup.schema/1';

export interface ArchivedSchema {
  format: typeof FORMAT;
  /** The id in the source registry. */
  id: number;
  schemaType: string;
  schema: string;
}

/** The schema id of a Confluent-framed value, or undefined for anything else (JSON values start with `{`). */
export function schemaIdOf(value: Buffer | null): number | undefined {
  if (!value || value.length < 5 || value[0] !== 0) return undefined;
  const id = value.readInt32BE(1);
  return id > 0 ? id : undefined;
}

/**
 * Archive side: before a segment is written, every schema id its values use
 * is in the backup (create-only put, so racing backup processes agree).
 */
export class SchemaArchive {
  private readonly done = new Set<number>();

  constructor(
    private readonly blobs: BlobStore,
    private readonly registry: Pick<RegistryCodec, 'schemaById'>,
  ) {}

  async ensure(values: Iterable<Buffer | null>): Promise<void> {
    const ids = new Set<number>();
    for (const v of values) {
      const id = schemaIdOf(v);
      if (id !== undefined && !this.done.has(id)) ids.add(id);
    }
    for (const id of ids) {
      if (!(await this.blobs.head(schemaKey(id)))) {
        const { schemaType, schema } = await this.registry.schemaById(id);
        const doc: ArchivedSchema = { format: FORMAT, id, schemaType, schema };
        try {
          await this.blobs.put(schemaKey(id), Buffer.from(JSON.stringify(doc)), { ifNoneMatch: true, contentType: 'application/json' });
        } catch (err) {
          if (!(err instanceof AlreadyExistsError)) throw err;
        }
      }
      this.done.add(id);
    }
  }
}

/** Every schema the backup holds, by source id. */
export async function listArchivedSchemas(blobs: BlobStore): Promise<ArchivedSchema[]> {
  const out: ArchivedSchema[] = [];
  for await (const b of blobs.list(SCHEMAS_PREFIX)) {
    const bytes = await blobs.get(b.key);
    if (bytes) out.push(parseJson(bytes.toString('utf8'), b.key) as unknown as ArchivedSchema);
  }
  return out.sort((a, b) => a.id - b.id);
}

export interface SchemaRemapperOptions {
  /** The backup. */
  blobs: BlobStore;
  /** The target registry. */
  target: RegistryCodec;
  /** The target subject, `<target prefix>events-value`. */
  subject: string;
  /** Where to look up an id the backup does not hold (the source registry, if it survived). */
  fallback?: Pick<RegistryCodec, 'schemaById'>;
}

/**
 * Restore side: maps each source schema id to the target registry's id for
 * the same schema text (registered under the target subject), and rewrites
 * a value's 4 id bytes when the two differ.
 */
export class SchemaRemapper {
  private readonly ids = new Map<number, Promise<number>>();
  /** Source ids whose schema was found and registered: what the restore recreated. */
  readonly registered = new Map<number, number>();

  constructor(private readonly options: SchemaRemapperOptions) {}

  /**
   * Registers the backup's schemas in source-id order (the order they were
   * first registered), so each registration is a compatible evolution of the
   * previous one under the subject's BACKWARD rule.
   */
  async prepare(): Promise<number> {
    const all = await listArchivedSchemas(this.options.blobs);
    for (const s of all) await this.targetId(s.id, s);
    return all.length;
  }

  readonly map = async (value: Buffer): Promise<Buffer> => {
    const id = schemaIdOf(value);
    if (id === undefined) return value;
    const to = await this.targetId(id);
    if (to === id) return value;
    const out = Buffer.from(value);
    out.writeInt32BE(to, 1);
    return out;
  };

  private targetId(id: number, known?: ArchivedSchema): Promise<number> {
    let p = this.ids.get(id);
    if (!p) {
      p = this.resolve(id, known);
      this.ids.set(id, p);
    }
    return p;
  }

  private async resolve(id: number, known: ArchivedSchema | undefined): Promise<number> {
    let text = known?.schema;
    if (text === undefined) {
      const bytes = await this.options.blobs.get(schemaKey(id));
      if (bytes) text = (parseJson(bytes.toString('utf8'), schemaKey(id)) as unknown as ArchivedSchema).schema;
      else if (this.options.fallback) text = (await this.options.fallback.schemaById(id)).schema;
      else throw new NotFoundError(`schema id ${id} in the backup (${schemaKey(id)}) and no source registry to ask`);
    }
    const to = await this.options.target.register(this.options.subject, JSON.parse(text) as object, { compatibility: 'BACKWARD' });
    this.registered.set(id, to);
    return to;
  }
}
