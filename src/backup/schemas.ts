import type { BlobStore } from '../blob/port.js';
import type { Compatibility, RegistryCodec } from '../codec/registry.js';
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

/** `backup/registry/subjects/<subject, URI-encoded>`: one JSON object per subject, rewritten when it gains a version. */
export const SUBJECTS_PREFIX = 'backup/registry/subjects/';
export const subjectKey = (subject: string): string => `${SUBJECTS_PREFIX}${encodeURIComponent(subject)}`;
const SUBJECT_FORMAT = 'agentstate.backup.subject/1';

/** One registry subject as the backup holds it. */
export interface ArchivedSubject {
  format: typeof SUBJECT_FORMAT;
  subject: string;
  /** The source's topic prefix: a restore under another prefix renames `<prefix>X` to `<target prefix>X`. */
  prefix: string;
  /** The subject's own compatibility level, when it has one. */
  compatibility?: string;
  /** Oldest first. */
  versions: { version: number; id: number; schemaType: string; schema: string }[];
}

/**
 * Archive side of the registry's subjects (issue 14: "the schema registry
 * subjects and versions"): every subject named `<prefix>...`, with every
 * version's id and text and the subject's compatibility level, so a restore
 * onto an empty registry recreates the subjects as they were. Subjects are
 * never removed from the backup (old events may still use their schemas).
 */
export class SubjectArchive {
  /** subject → JSON last written (or found) in the backup. */
  private readonly written = new Map<string, string>();

  constructor(
    private readonly blobs: BlobStore,
    private readonly registry: Pick<RegistryCodec, 'listSubjects' | 'subjectVersions' | 'compatibilityOf'>,
    private readonly prefix: string,
  ) {}

  /** Writes each subject whose versions or level changed since the backup's copy. Returns the subjects archived. */
  async sync(): Promise<number> {
    let n = 0;
    for (const subject of (await this.registry.listSubjects()).filter((s) => s.startsWith(this.prefix)).sort()) {
      const versions = await this.registry.subjectVersions(subject);
      if (versions.length === 0) continue;
      const compatibility = await this.registry.compatibilityOf(subject);
      const doc: ArchivedSubject = { format: SUBJECT_FORMAT, subject, prefix: this.prefix, ...(compatibility ? { compatibility } : {}), versions };
      const json = JSON.stringify(doc);
      if (!this.written.has(subject)) {
        const stored = await this.blobs.get(subjectKey(subject));
        if (stored) this.written.set(subject, stored.toString('utf8'));
      }
      if (this.written.get(subject) !== json) {
        await this.blobs.put(subjectKey(subject), Buffer.from(json), { contentType: 'application/json' });
        this.written.set(subject, json);
      }
      n++;
    }
    return n;
  }
}

/** Every subject the backup holds, by name. */
export async function listArchivedSubjects(blobs: BlobStore): Promise<ArchivedSubject[]> {
  const out: ArchivedSubject[] = [];
  for await (const b of blobs.list(SUBJECTS_PREFIX)) {
    const bytes = await blobs.get(b.key);
    if (!bytes) continue;
    const doc = parseJson(bytes.toString('utf8'), b.key) as unknown as ArchivedSubject;
    if (doc.format === SUBJECT_FORMAT) out.push(doc);
  }
  return out.sort((a, b) => a.subject.localeCompare(b.subject));
}

/** What {@link SchemaRemapper.prepare} recreated in the target registry. */
export interface RegistryRestoreReport {
  /** Subjects recreated from the backup (with every version). */
  subjects: number;
  versions: number;
  /** Source schema ids the target registry gave the same id, and those it numbered differently (values rewritten). */
  idsKept: number;
  idsMapped: number;
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
  /** The target's topic prefix: archived subjects `<source prefix>X` are recreated as `<targetPrefix>X`. @default the prefix of `subject` (before `events-value`) */
  targetPrefix?: string;
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
  async prepare(): Promise<RegistryRestoreReport> {
    const report = await this.recreateSubjects();
    const all = await listArchivedSchemas(this.options.blobs);
    for (const s of all) await this.targetId(s.id, s);
    for (const [from, to] of this.registered) if (from === to) report.idsKept++;
    report.idsMapped = this.registered.size - report.idsKept;
    return report;
  }

  /**
   * Registers every archived subject's versions in version order under its
   * target name (compatibility NONE meanwhile: the source accepted each
   * version already), then sets the subject's archived level. The registry
   * assigns the ids (Apicurio's Confluent API ignores a requested id, even in
   * IMPORT mode), so each source id is mapped to the id it got. Idempotent:
   * registering an existing version returns its id.
   */
  private async recreateSubjects(): Promise<RegistryRestoreReport> {
    const { target } = this.options;
    const targetPrefix = this.options.targetPrefix ?? this.options.subject.replace(/events-value$/, '');
    const report: RegistryRestoreReport = { subjects: 0, versions: 0, idsKept: 0, idsMapped: 0 };
    for (const s of await listArchivedSubjects(this.options.blobs)) {
      const name = s.subject.startsWith(s.prefix) ? `${targetPrefix}${s.subject.slice(s.prefix.length)}` : s.subject;
      for (const v of s.versions) {
        const to = await target.register(name, JSON.parse(v.schema) as object, { compatibility: 'NONE' });
        if (!this.ids.has(v.id)) this.ids.set(v.id, Promise.resolve(to));
        this.registered.set(v.id, to);
        report.versions++;
      }
      const level = s.compatibility?.toUpperCase();
      if (level === 'BACKWARD' || level === 'FORWARD' || level === 'FULL' || level === 'NONE') await target.setCompatibility(name, level as Compatibility);
      report.subjects++;
    }
    return report;
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
