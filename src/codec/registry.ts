import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import type { Type } from 'avsc';
import { AgentStateError, UnavailableError } from '../errors.js';
import { InvalidInputError, TooLargeError } from '../domain/errors.js';
import { DEFAULT_AVRO_GUARD_LIMITS, guardAvroBody, type AvroGuardLimits } from './avro-guard.js';
import { DecodeError, SchemaError } from './errors.js';
import { redactUrlsIn, splitUrlCredentials } from '../util/redact.js';

/** Subject compatibility levels this project uses (DESIGN.md: schemas evolve under BACKWARD). */
export type Compatibility = 'BACKWARD' | 'FORWARD' | 'FULL' | 'NONE';

/** Options of {@link RegistryCodec}. */
export interface RegistryCodecOptions {
  /**
   * Base URL of a Confluent-compatible registry, e.g. `http://host:8081` or Apicurio's `.../apis/ccompat/v7`.
   * Credentials in it (`http://user:secret@host:8081`) become {@link auth} and never appear in messages.
   */
  url: string;
  /** HTTP basic auth. */
  auth?: { username: string; password: string };
  /** Largest framed record `decode` accepts, checked before anything is decoded. @default 64 MiB */
  maxRecordBytes?: number;
  /** Limits on array/map items and nesting checked before decoding. @default DEFAULT_AVRO_GUARD_LIMITS (1M items, depth 64) */
  guardLimits?: Partial<AvroGuardLimits>;
}

/** Options of {@link RegistryCodec.decode}. */
export interface DecodeOptions {
  /**
   * Decode into this (older or newer) reader schema through Avro schema
   * resolution instead of the writer's schema: how an old consumer reads a new
   * writer's record under BACKWARD/FORWARD evolution.
   */
  readerSchema?: object;
}

const MAGIC = 0;
const HEADER = 5;
const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024;
/** The encode scratch buffer is kept up to this size; a larger record gets a buffer of its own. */
const MAX_SCRATCH_BYTES = 1024 * 1024;

/**
 * Avro with the Confluent wire framing (magic byte 0, 4-byte big-endian schema
 * id, Avro body), so Java/Python/Go Confluent clients read our topics
 * (DESIGN.md Wire format). Registration and schema lookup go through
 * `@kafkajs/confluent-schema-registry`; ids and parsed types are cached
 * locally, so after warm-up encode/decode never touch the network.
 */
export class RegistryCodec {
  private readonly registry: SchemaRegistry;
  private readonly url: string;
  private readonly auth: RegistryCodecOptions['auth'];
  private readonly maxRecordBytes: number;
  private readonly guardLimits: AvroGuardLimits;
  /** `subject \0 schema JSON` → id: repeated registration is free. */
  private readonly ids = new Map<string, Promise<number>>();
  private readonly readers = new Map<string, Type>();
  private readonly resolvers = new Map<string, { reader: Type; resolver: avro.Resolver }>();
  /** Writer types by schema id (an id names one schema for good): encode skips the registry client's lookup. */
  private readonly types = new Map<number, Type>();
  /** Where records are written before being copied out at their size (encoding is synchronous: one is enough). */
  private scratch = Buffer.allocUnsafe(64 * 1024);

  constructor(options: RegistryCodecOptions) {
    if (!options.url) throw new InvalidInputError('RegistryCodecOptions.url', 'must be a non-empty URL');
    // fetch refuses a URL with credentials, and a URL without them is safe to quote in errors (issue 12 §7).
    const split = splitUrlCredentials(options.url);
    this.url = split.url.replace(/\/+$/, '');
    this.auth = options.auth ?? split.auth;
    this.maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    this.guardLimits = { ...DEFAULT_AVRO_GUARD_LIMITS, ...options.guardLimits };
    this.registry = new SchemaRegistry({
      host: this.url,
      ...(this.auth ? { auth: this.auth } : {}),
    });
  }

  /**
   * Registers `schema` under `subject` (idempotent: the same schema returns the
   * same id) and returns its schema id. With `compatibility`, sets the
   * subject's compatibility level first, so the registration itself is checked.
   * @throws SchemaError when the registry refuses the schema (incompatible evolution, invalid schema)
   * @throws UnavailableError when the registry cannot be reached
   */
  register(subject: string, schema: object, options: { compatibility?: Compatibility } = {}): Promise<number> {
    const key = `${subject}\0${options.compatibility ?? ''}\0${JSON.stringify(schema)}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.doRegister(subject, schema, options.compatibility);
      this.ids.set(key, id);
      id.catch(() => this.ids.delete(key));
    }
    return id;
  }

  private async doRegister(subject: string, schema: object, compatibility: Compatibility | undefined): Promise<number> {
    try {
      avro.Type.forSchema(schema as avro.Schema);
    } catch (error) {
      throw new SchemaError(subject, `not a valid Avro schema: ${(error as Error).message}`, { cause: error });
    }
    if (compatibility !== undefined) await this.putConfig(subject, compatibility);
    // The client refuses to register when the level we pass differs from the
    // subject's, so pass the subject's own level (or none for a new subject).
    const level = compatibility ?? (await this.getConfig(subject));
    try {
      const { id } = await this.registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject, ...(level ? { compatibility: level as never } : {}) });
      return id;
    } catch (error) {
      throw this.mapError(error, subject);
    }
  }

  /**
   * Frames `record` with `schemaId`.
   * @throws InvalidInputError when the record does not match the schema (names the bad paths) or the id is unknown
   * @throws TooLargeError when the framed record would exceed `maxRecordBytes` (decoders would refuse it)
   */
  async encode(schemaId: number, record: unknown): Promise<Buffer> {
    const type = this.types.get(schemaId) ?? (await this.writerType(schemaId, (problem, cause) => new InvalidInputError('schema id', problem, { cause })));
    if (!type.isValid(record)) {
      const paths: string[] = [];
      type.isValid(record, { errorHook: (path) => paths.push(path.join('.') || '<root>') });
      throw new InvalidInputError('record', `does not match schema ${schemaId} at ${paths.join(', ')}`, {
        details: { schemaId, paths },
      });
    }
    // Written once into a scratch buffer and copied out at its size: avsc's
    // toBuffer writes into a 1 KiB buffer of its own and, for any larger
    // record (every chat-window event), writes it all a second time (issue 10).
    let scratch = this.scratch;
    let end = type.encode(record, scratch, HEADER);
    if (end < 0) {
      scratch = Buffer.allocUnsafe(scratch.length - end);
      end = type.encode(record, scratch, HEADER);
      if (scratch.length <= MAX_SCRATCH_BYTES) this.scratch = scratch;
    }
    if (end > this.maxRecordBytes) {
      throw new TooLargeError(`record for schema ${schemaId}`, end, this.maxRecordBytes);
    }
    const out = Buffer.allocUnsafe(end);
    scratch.copy(out, HEADER, HEADER, end);
    out[0] = MAGIC;
    out.writeInt32BE(schemaId, 1);
    return out;
  }

  /**
   * Decodes a framed record. Every declared length in the body is checked
   * against the bytes present before avsc allocates anything.
   * @throws DecodeError on bad magic byte, unknown schema id, truncated/corrupted/trailing body
   * @throws TooLargeError when the frame exceeds `maxRecordBytes`
   */
  async decode<T = unknown>(buffer: Buffer, options: DecodeOptions = {}): Promise<T> {
    if (!Buffer.isBuffer(buffer)) throw new DecodeError('record', 'not a Buffer');
    if (buffer.length > this.maxRecordBytes) throw new TooLargeError('framed record', buffer.length, this.maxRecordBytes);
    if (buffer.length < HEADER) throw new DecodeError('record', `frame of ${buffer.length} bytes is shorter than the 5-byte header`);
    if (buffer[0] !== MAGIC) throw new DecodeError('record', `magic byte ${buffer[0]} is not 0 (not Confluent-framed Avro)`);
    const schemaId = buffer.readInt32BE(1);
    const type = await this.writerType(schemaId, (problem, cause) => new DecodeError('record', problem, { cause }));
    const body = buffer.subarray(HEADER);
    guardAvroBody(type, body, this.guardLimits);
    try {
      if (options.readerSchema === undefined) return type.fromBuffer(body) as T;
      const { reader, resolver } = this.resolver(schemaId, type, options.readerSchema);
      return reader.fromBuffer(body, resolver) as T;
    } catch (error) {
      if (error instanceof AgentStateError) throw error;
      throw new DecodeError('record', `schema ${schemaId}: ${(error as Error).message}`, { cause: error });
    }
  }

  private async writerType(schemaId: number, fail: (problem: string, cause: unknown) => AgentStateError): Promise<Type> {
    if (!Number.isInteger(schemaId) || schemaId <= 0) throw fail(`schema id ${schemaId} is not a positive integer`, undefined);
    try {
      const type = (await this.registry.getSchema(schemaId)) as unknown as Type;
      this.types.set(schemaId, type);
      return type;
    } catch (error) {
      if (statusOf(error) === 404) throw fail(`unknown schema id ${schemaId}`, error);
      throw this.mapError(error, `id ${schemaId}`);
    }
  }

  private resolver(schemaId: number, writer: Type, readerSchema: object): { reader: Type; resolver: avro.Resolver } {
    const json = JSON.stringify(readerSchema);
    const key = `${schemaId}\0${json}`;
    let entry = this.resolvers.get(key);
    if (entry === undefined) {
      let reader = this.readers.get(json);
      if (reader === undefined) {
        reader = avro.Type.forSchema(readerSchema as avro.Schema);
        this.readers.set(json, reader);
      }
      try {
        entry = { reader, resolver: reader.createResolver(writer) };
      } catch (error) {
        throw new DecodeError('record', `reader schema cannot read writer schema ${schemaId}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      this.resolvers.set(key, entry);
    }
    return entry;
  }

  /**
   * The schema text registered under `id` (the registry's `/schemas/ids/{id}`):
   * what a backup keeps so a restore onto an empty registry can register the
   * same schema again (issue 14).
   * @throws DecodeError when the registry has no schema with that id
   * @throws UnavailableError when the registry cannot be reached
   */
  async schemaById(id: number): Promise<{ schemaType: string; schema: string }> {
    const res = await this.http('GET', `/schemas/ids/${id}`);
    if (res.status === 404) throw new DecodeError('schema id', `unknown schema id ${id}`);
    if (!res.ok) throw await this.httpError(res, `id ${id}`, 'read schema');
    const body = (await res.json()) as { schema?: string; schemaType?: string };
    if (typeof body.schema !== 'string') throw new DecodeError('schema id', `registry answered no schema text for id ${id}`);
    return { schemaType: body.schemaType ?? 'AVRO', schema: body.schema };
  }

  /**
   * Every subject the registry lists (a backup records those of its topic prefix).
   * @throws UnavailableError when the registry cannot be reached
   */
  async listSubjects(): Promise<string[]> {
    const res = await this.http('GET', '/subjects');
    if (!res.ok) throw await this.httpError(res, '*', 'list subjects');
    return (await res.json()) as string[];
  }

  /**
   * Every version of `subject`, oldest first, with its schema id and text;
   * `[]` when the subject does not exist.
   * @throws UnavailableError when the registry cannot be reached
   */
  async subjectVersions(subject: string): Promise<{ version: number; id: number; schemaType: string; schema: string }[]> {
    const path = `/subjects/${encodeURIComponent(subject)}/versions`;
    const res = await this.http('GET', path);
    if (res.status === 404) return [];
    if (!res.ok) throw await this.httpError(res, subject, 'list versions');
    const versions = ((await res.json()) as number[]).sort((a, b) => a - b);
    const out: { version: number; id: number; schemaType: string; schema: string }[] = [];
    for (const version of versions) {
      const r = await this.http('GET', `${path}/${version}`);
      if (r.status === 404) continue; // deleted between the two calls
      if (!r.ok) throw await this.httpError(r, subject, `read version ${version}`);
      const body = (await r.json()) as { id: number; version: number; schema: string; schemaType?: string };
      out.push({ version: body.version, id: body.id, schemaType: body.schemaType ?? 'AVRO', schema: body.schema });
    }
    return out;
  }

  /** The subject's own compatibility level, or undefined when it has none (the global one applies). */
  compatibilityOf(subject: string): Promise<string | undefined> {
    return this.getConfig(subject);
  }

  /** Sets the subject's compatibility level. @throws SchemaError when the registry refuses it */
  setCompatibility(subject: string, compatibility: Compatibility): Promise<void> {
    return this.putConfig(subject, compatibility);
  }

  private async getConfig(subject: string): Promise<string | undefined> {
    const res = await this.http('GET', `/config/${encodeURIComponent(subject)}`);
    if (res.status === 404) return undefined;
    if (!res.ok) throw await this.httpError(res, subject, 'read compatibility');
    const body = (await res.json()) as { compatibilityLevel?: string };
    return body.compatibilityLevel?.toUpperCase();
  }

  private async putConfig(subject: string, compatibility: Compatibility): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const res = await this.http('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility });
      if (res.ok) return;
      // Processes starting together on a new subject race here: Apicurio creates
      // the subject's rule on the first PUT and answers 409 ("rule already
      // exists") to the others. The level is what matters, not who set it.
      if (res.status !== 409 || attempt >= 3) throw await this.httpError(res, subject, `set compatibility ${compatibility}`);
      await res.text().catch(() => '');
      if ((await this.getConfig(subject)) === compatibility) return;
    }
  }

  /** Compatibility config is not exposed by the client library, so these two calls use fetch. */
  private async http(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/vnd.schemaregistry.v1+json, application/json' };
    if (body !== undefined) headers['content-type'] = 'application/vnd.schemaregistry.v1+json';
    if (this.auth) {
      headers.authorization = `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64')}`;
    }
    try {
      return await fetch(`${this.url}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new UnavailableError(`schema registry ${this.url}`, { cause: error });
    }
  }

  private async httpError(res: Response, subject: string, what: string): Promise<AgentStateError> {
    const text = await res.text().catch(() => '');
    if (res.status >= 500) return new UnavailableError(`schema registry ${this.url} (${what}: HTTP ${res.status})`);
    return new SchemaError(subject, `${what}: HTTP ${res.status} ${redactUrlsIn(text)}`);
  }

  private mapError(error: unknown, subject: string): AgentStateError {
    if (error instanceof AgentStateError) return error;
    const status = statusOf(error);
    const message = redactUrlsIn((error as Error)?.message ?? String(error));
    if (status === undefined || status >= 500) {
      return new UnavailableError(`schema registry ${this.url}: ${message}`, { cause: error });
    }
    return new SchemaError(subject, message, { cause: error, details: { status } });
  }
}

function statusOf(error: unknown): number | undefined {
  if (error && typeof error === 'object' && 'status' in error && typeof error.status === 'number') return error.status;
  return undefined;
}
