import { createHash, randomBytes } from 'node:crypto';
import { constants, type Dirent } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { AgentStateError, AlreadyExistsError, ClosedError, ConfigError, ConflictError, InvalidInputError, UnavailableError } from '../errors.js';
import { assertBlobKey, type BlobInfo, type BlobPutOptions, type BlobStore } from './port.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../util/private-files.js';

export interface FsBlobStoreOptions {
  /** Root directory; created by setup(). Keys map to files below it, `/` to subdirectories. */
  dir: string;
  /**
   * fsync the file and its directory on every put, so a put that returned
   * survives a power loss. Tests on tmpfs may turn it off.
   * @default true
   */
  fsync?: boolean;
}

/** Temporary files live beside their target (same file system, so rename is atomic) under this prefix. */
const TEMP_PREFIX = '.as-tmp-';

/**
 * Blob port on a local directory (embedded profile).
 *
 * Writes are atomic: the body goes to a temporary file in the target's own
 * directory, is fsynced, then renamed over the key (or, for `ifNoneMatch`,
 * hard-linked to it: link() fails with EEXIST when the key exists, so two
 * racing creators cannot both win, unlike a check-then-write), and the
 * directory is fsynced so the new name is durable too. A reader sees the old
 * bytes or the new bytes, never a torn file.
 *
 * Keys are `/`-separated; each segment becomes a directory or file name.
 * Keys that cannot be mapped safely are refused (AS_INVALID_INPUT): empty,
 * absolute, containing NUL or `\`, or with an empty, `.` or `..` segment. Unlike
 * S3, an object and a prefix cannot share a name (`a` and `a/b`): the second
 * put fails with ConflictError. Content type and metadata are not stored
 * (no BlobStore method returns them).
 */
export class FsBlobStore implements BlobStore {
  private readonly root: string;
  private readonly fsync: boolean;
  private closed = false;

  constructor(options: FsBlobStoreOptions) {
    if (!options || typeof options.dir !== 'string' || options.dir === '') throw new ConfigError('dir', 'a directory path is required');
    this.root = resolve(options.dir);
    this.fsync = options.fsync ?? true;
  }

  async setup(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: PRIVATE_DIR_MODE });
  }

  async put(key: string, body: Uint8Array | Readable, options: BlobPutOptions = {}): Promise<BlobInfo> {
    const path = this.pathOf(key);
    const dir = dirname(path);
    const temp = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    const handle = await this.createTemp(key, dir, temp);
    let size = 0;
    const md5 = createHash('md5');
    try {
      try {
        const chunks: AsyncIterable<unknown> | Iterable<Uint8Array> = body instanceof Uint8Array ? [body] : body;
        for await (const chunk of chunks) {
          const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
          md5.update(buf);
          size += buf.length;
          await writeAll(handle, buf);
        }
        if (this.fsync) await handle.sync();
      } finally {
        await handle.close();
      }
      if (options.ifNoneMatch) {
        // link() is the atomic create-if-absent for a complete file.
        await link(temp, path).catch((err: unknown) => {
          if (code(err) === 'EEXIST') throw new AlreadyExistsError(`blob ${key}`, { cause: err });
          throw err;
        });
        await unlink(temp);
      } else {
        await rename(temp, path);
      }
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      if (err instanceof AgentStateError) throw err;
      if (code(err) === 'EISDIR' || code(err) === 'ENOTEMPTY' || code(err) === 'EPERM') {
        throw new ConflictError(`blob ${key}: a prefix of other objects has this name`, { cause: err });
      }
      throw new UnavailableError(`file system put ${key} (${(err as Error).message})`, { cause: err });
    }
    if (this.fsync) await fsyncDir(dir);
    return { key, size, etag: `"${md5.digest('hex')}"` };
  }

  async get(key: string): Promise<Buffer | undefined> {
    const path = this.pathOf(key);
    try {
      return await readFile(path);
    } catch (err) {
      if (isAbsent(err)) return undefined;
      throw new UnavailableError(`file system get ${key} (${(err as Error).message})`, { cause: err });
    }
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const path = this.pathOf(key);
    let handle: FileHandle;
    try {
      // Opening first reports a missing key now rather than as a stream error later.
      handle = await open(path, 'r');
      if (!(await handle.stat()).isFile()) {
        await handle.close();
        return undefined;
      }
    } catch (err) {
      if (isAbsent(err)) return undefined;
      throw new UnavailableError(`file system get ${key} (${(err as Error).message})`, { cause: err });
    }
    return handle.createReadStream({ autoClose: true });
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    const path = this.pathOf(key);
    try {
      const s = await stat(path);
      if (!s.isFile()) return undefined;
      return { key, size: s.size, lastModified: s.mtime };
    } catch (err) {
      if (isAbsent(err)) return undefined;
      throw new UnavailableError(`file system head ${key} (${(err as Error).message})`, { cause: err });
    }
  }

  /**
   * Objects under `prefix` in key order (UTF-8 byte order, as S3 lists). The
   * walk starts at the deepest directory the prefix names and sorts each
   * directory so that keys come out ordered without collecting them all.
   */
  async *list(prefix: string): AsyncIterable<BlobInfo> {
    if (prefix.includes('\0')) return;
    const slash = prefix.lastIndexOf('/');
    const base = slash < 0 ? '' : prefix.slice(0, slash + 1);
    if (base !== '' && !isSafeKey(base.slice(0, -1))) return;
    yield* this.walk(base, prefix);
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await unlink(path);
    } catch (err) {
      if (isAbsent(err) || code(err) === 'EISDIR') return;
      throw new UnavailableError(`file system delete ${key} (${(err as Error).message})`, { cause: err });
    }
    // Drop directories the delete left empty, so prefixes disappear as on S3.
    for (let dir = dirname(path); dir !== this.root && dir.startsWith(this.root + sep); dir = dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        break;
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private async *walk(keyDir: string, prefix: string): AsyncGenerator<BlobInfo> {
    let entries: Dirent[];
    try {
      entries = await readdir(join(this.root, keyDir), { withFileTypes: true });
    } catch (err) {
      if (isAbsent(err)) return;
      throw new UnavailableError(`file system list ${prefix} (${(err as Error).message})`, { cause: err });
    }
    // A directory sorts as its name plus '/', which is where its keys fall among its siblings.
    const named = entries
      .filter((e) => !e.name.startsWith(TEMP_PREFIX) && (e.isFile() || e.isDirectory()))
      .map((e) => ({ e, sortKey: Buffer.from(e.isDirectory() ? `${e.name}/` : e.name) }))
      .sort((a, b) => Buffer.compare(a.sortKey, b.sortKey));
    for (const { e } of named) {
      const key = keyDir + e.name;
      if (e.isDirectory()) {
        const sub = `${key}/`;
        // Descend only where keys can still match the prefix.
        if (sub.startsWith(prefix) || prefix.startsWith(sub)) yield* this.walk(sub, prefix);
      } else if (key.startsWith(prefix)) {
        const info = await this.head(key);
        if (info) yield info;
      }
    }
  }

  /** Opens the temp file exclusively, creating the key's directories; retries if a delete removed them meanwhile. */
  private async createTemp(key: string, dir: string, temp: string): Promise<FileHandle> {
    if (this.closed) throw new ClosedError('the file system blob store');
    for (let attempt = 0; ; attempt++) {
      try {
        const created = await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
        if (created && this.fsync) await fsyncNewDirs(created, dir);
        return await open(temp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, PRIVATE_FILE_MODE);
      } catch (err) {
        if (code(err) === 'ENOENT' && attempt < 3) continue;
        if (code(err) === 'ENOTDIR' || code(err) === 'EEXIST') {
          throw new ConflictError(`blob ${key}: a prefix of this key is an object`, { cause: err });
        }
        throw new UnavailableError(`file system put ${key} (${(err as Error).message})`, { cause: err });
      }
    }
  }

  private pathOf(key: string): string {
    if (!isSafeKey(key)) {
      throw new InvalidInputError('blob key', `${JSON.stringify(key)} cannot be mapped to a file safely`);
    }
    return join(this.root, ...key.split('/'));
  }
}

/** True for keys whose segments are plain file names (see the class comment). */
function isSafeKey(key: string): boolean {
  try {
    assertBlobKey(key);
  } catch {
    return false;
  }
  return key.split('/').every((s) => !s.startsWith(TEMP_PREFIX));
}

async function writeAll(handle: FileHandle, buf: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < buf.length) {
    const { bytesWritten } = await handle.write(buf, offset, buf.length - offset);
    offset += bytesWritten;
  }
}

/** fsync of a directory makes a rename or link in it durable (POSIX leaves it to the caller). */
async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** mkdir -p created `first` .. `last`: make each new entry durable in its parent. */
async function fsyncNewDirs(first: string, last: string): Promise<void> {
  for (let dir = last; ; dir = dirname(dir)) {
    await fsyncDir(dirname(dir));
    if (dir === first || dirname(dir) === dir) break;
  }
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** ENOENT, or a path through a file (ENOTDIR), or a directory where an object was asked for. */
function isAbsent(err: unknown): boolean {
  const c = code(err);
  return c === 'ENOENT' || c === 'ENOTDIR' || c === 'EISDIR';
}
