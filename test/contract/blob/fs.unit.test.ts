import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../../src/blob/fs.js';
import { AgentStateError } from '../../../src/errors.js';
import { blobStoreContract } from './suite.js';

const root = mkdtempSync(join(tmpdir(), 'agentstate-blob-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `store-${++n}`);

blobStoreContract('FsBlobStore', async () => new FsBlobStore({ dir: freshDir() }));

/** Every file below `dir`, relative, temp files included. */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (err: unknown) => (err instanceof AgentStateError ? err.code : String(err)),
  );
}

describe('FsBlobStore specifics', () => {
  it('refuses keys that could escape the directory or do not map to a file', async () => {
    const store = new FsBlobStore({ dir: freshDir() });
    await store.setup();
    for (const key of ['../escape', 'a/../../b', '/abs', 'a\0b', 'a//b', './a', 'a/.', '', 'trailing/', 'a\\b']) {
      expect(await codeOf(store.put(key, Buffer.from('x'))), JSON.stringify(key)).toBe('AS_INVALID_INPUT');
      expect(await codeOf(store.get(key)), JSON.stringify(key)).toBe('AS_INVALID_INPUT');
    }
    expect(readdirSync(join(root, `store-${n}`))).toEqual([]);
  });

  it('maps nested keys to directories and leaves no temp files, even after a refused create', async () => {
    const dir = freshDir();
    const store = new FsBlobStore({ dir });
    await store.setup();
    await store.put('snapshots/agent-1/v1', Buffer.from('a'));
    await store.put('snapshots/agent-1/v1', Buffer.from('b'));
    expect(await codeOf(store.put('snapshots/agent-1/v1', Buffer.from('c'), { ifNoneMatch: true }))).toBe('AS_ALREADY_EXISTS');
    expect(files(dir)).toEqual([join('snapshots', 'agent-1', 'v1')]);
    await store.delete('snapshots/agent-1/v1');
    // Empty prefix directories go with their last object.
    expect(readdirSync(dir)).toEqual([]);
  });

  it('never shows a partly written object: readers see the old bytes until the new ones are complete', async () => {
    const store = new FsBlobStore({ dir: freshDir() });
    await store.setup();
    await store.put('obj', Buffer.from('old'));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let firstTaken!: () => void;
    const firstWritten = new Promise<void>((r) => (firstTaken = r));
    const body = Readable.from(
      (async function* () {
        yield Buffer.from('new-part-1 ');
        // Resumed only when the store asks for more: it has taken the first part.
        firstTaken();
        await gate;
        yield Buffer.from('new-part-2');
      })(),
    );
    const writing = store.put('obj', body);
    await firstWritten;
    expect((await store.get('obj'))!.toString()).toBe('old');
    release();
    await writing;
    expect((await store.get('obj'))!.toString()).toBe('new-part-1 new-part-2');
  });

  it('refuses an object where a prefix of others lives, and the reverse, with ConflictError', async () => {
    const store = new FsBlobStore({ dir: freshDir() });
    await store.setup();
    await store.put('a/b', Buffer.from('x'));
    expect(await codeOf(store.put('a', Buffer.from('y')))).toBe('AS_CONFLICT');
    await store.put('c', Buffer.from('y'));
    expect(await codeOf(store.put('c/d', Buffer.from('z')))).toBe('AS_CONFLICT');
    expect(await store.get('a')).toBeUndefined();
    expect(await store.get('c/d')).toBeUndefined();
    expect((await store.get('a/b'))!.toString()).toBe('x');
  });
});
