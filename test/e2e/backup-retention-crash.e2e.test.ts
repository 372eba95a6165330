import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { BackupArchiver, listCheckpoints, listManifestVersions, openManifest, restoreEmbedded, verifyBackup } from '../../src/backup/index.js';
import type { BlobStore } from '../../src/blob/port.js';
import { S3BlobStore, type S3BlobStoreOptions } from '../../src/blob/s3.js';
import { openEmbeddedSource, projectSource, tempRoot } from '../support/embedded-source.js';
import { stackEnv, uniqueName } from '../support/env.js';
import { repoRoot } from '../support/kill-child.js';
import { archiveUntilCaughtUp, codec, storeHeads, writeAgents } from '../unit/backup/helpers.js';

const DAY = 86_400_000;

/** Segment objects still in the backup, and checkpoints, over every partition. */
async function census(blobs: BlobStore): Promise<{ segments: number; checkpoints: number }> {
  let segments = 0;
  let checkpoints = 0;
  for (const p of [0, 1]) {
    for (const v of await listManifestVersions(blobs, p)) if (await blobs.head((await openManifest((await blobs.get(v.key))!, v.key)).segment.key)) segments++;
    checkpoints += (await listCheckpoints(blobs, p)).length;
  }
  return { segments, checkpoints };
}

/** Where the backup lives: the store the test reads, and the same store as the child process builds it. */
interface BackupPlace {
  label: string;
  open(sourceDir: string): Promise<BlobStore>;
  /** Module source that defines `const fs = ...` (the child's blob store), given the source dir. */
  childStore(sourceDir: string): string;
  /** Whether the test removes what it wrote (a shared bucket); a temp dir goes with the test's root. */
  shared: boolean;
}

const fsPlace: BackupPlace = {
  label: 'embedded',
  open: async (sourceDir) => {
    const { FsBlobStore } = await import('../../src/blob/fs.js');
    const blobs = new FsBlobStore({ dir: join(sourceDir, 'blobs'), fsync: false });
    await blobs.setup();
    return blobs;
  },
  childStore: (sourceDir) => `
    import { FsBlobStore } from ${JSON.stringify(join(repoRoot, 'src/blob/fs.ts'))};
    const fs = new FsBlobStore({ dir: ${JSON.stringify(join(sourceDir, 'blobs'))}, fsync: true });`,
  shared: false,
};

function s3Place(): BackupPlace {
  let options: S3BlobStoreOptions | undefined;
  return {
    label: 'S3',
    open: async () => {
      const { s3: c } = stackEnv();
      options = { endpoint: c.endpoint, accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, bucket: c.bucket, prefix: `${uniqueName('retention-crash')}/` };
      const blobs = new S3BlobStore(options);
      await blobs.setup();
      return blobs;
    },
    childStore: () => `
      import { S3BlobStore } from ${JSON.stringify(join(repoRoot, 'src/blob/s3.ts'))};
      const fs = new S3BlobStore(${JSON.stringify(options)});`,
    shared: true,
  };
}

/**
 * The retention by age killed with SIGKILL in the middle, again and again
 * (issue 14's crash tests; the unit tests inject a failing delete instead): a
 * child process runs `applyRetention` on the backup and prints a line before
 * each blob write and delete; the parent kills it after the n-th such line
 * (n growing each round) until a run finishes. After every kill the backup
 * verifies and a restore to latest equals the source, agent for agent; at the
 * end the segments behind the kept checkpoint are gone. On the file-system
 * blob store and on S3 (its conditional writes and deletes, killed midway).
 */
for (const place of [fsPlace, s3Place()]) {
  describe(`backup retention killed with SIGKILL midway (${place.label})`, () => {
    const root = tempRoot(`retention-crash-${place.label}`);

    it('every state a kill leaves verifies and restores to the source; the re-runs finish the job', async () => {
      const prefix = 'rc.';
      const source = await openEmbeddedSource(join(root, 'source'), prefix, 2);
      const { log } = source;
      const blobs = await place.open(source.dir);
      const ids = Array.from({ length: 12 }, (_, i) => `rc-${i}`);
      const T = Date.now();
      try {
        await writeAgents(log, prefix, ids, 4);
        await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, segmentMaxBytes: 600 });
        // The first checkpoint, on the archiver's own schedule at T.
        await new BackupArchiver({ log, blobs, codec, topicPrefix: prefix, checkpointIntervalMs: DAY, keepDays: 1, now: () => T }).prune();
        await writeAgents(log, prefix, ids, 3, 'b', false);
        await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, segmentMaxBytes: 600 });
        await projectSource(source, codec, prefix);
        const sourceHeads = await storeHeads(join(source.dir, 'store.sqlite'), ids);
        const before = await census(blobs);
        expect(before.segments).toBeGreaterThan(40);

        // Three days on: a new checkpoint at the head, then everything behind it goes.
        const script = `
          ${place.childStore(source.dir)}
          import { JsonEventCodec } from ${JSON.stringify(join(repoRoot, 'src/codec/event-codec.ts'))};
          import { applyRetention } from ${JSON.stringify(join(repoRoot, 'src/backup/index.ts'))};
          const say = (line) => process.stdout.write(line + '\\n');
          const blobs = new Proxy(fs, { get(t, prop) {
            if (prop === 'put') return (key, ...rest) => (say('put ' + key), t.put(key, ...rest));
            if (prop === 'delete') return (key) => (say('delete ' + key), t.delete(key));
            const v = t[prop]; return typeof v === 'function' ? v.bind(t) : v;
          } });
          await applyRetention(blobs, { codec: new JsonEventCodec(), now: ${T + 3 * DAY}, checkpointIntervalMs: ${DAY}, keepDays: 1, keepMonthly: 0 });
          say('finished');
          process.exit(0);
        `;
        const states = new Set<string>();
        let kills = 0;
        for (let n = 1, round = 0; ; n = n * 2 + 1, round++) {
          expect(round, 'the retention never finished').toBeLessThan(12);
          const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
          let stderr = '';
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
          let seen = 0;
          let finished = false;
          createInterface({ input: child.stdout }).on('line', (line) => {
            if (line === 'finished') finished = true;
            else if (++seen >= n && child.exitCode === null) child.kill('SIGKILL');
          });
          const { code, signal } = await exited;
          if (finished) {
            expect(code, stderr).toBe(0);
            break;
          }
          expect(signal, `the child died otherwise (exit ${code}):\n${stderr}`).toBe('SIGKILL');
          kills++;
          const now = await census(blobs);
          states.add(`${now.segments}/${now.checkpoints}`);
          // Whatever the kill left: the backup verifies, and a restore to latest equals the source.
          const verified = await verifyBackup({ blobs, codec });
          expect({ round, ok: verified.ok, problems: verified.problems }).toEqual({ round, ok: true, problems: [] });
          const target = join(root, `restore-${round}`);
          const restored = await restoreEmbedded({ blobs, targetDataDir: target, codec, topicPrefix: prefix });
          expect({ round, ok: restored.ok, mismatched: restored.mismatched }).toEqual({ round, ok: true, mismatched: [] });
          expect(await storeHeads(join(target, 'store.sqlite'), ids)).toEqual(sourceHeads);
        }
        process.stderr.write(`[retention-crash ${place.label}] ${kills} kills; segments/checkpoints left by them: ${[...states].join(', ')} (from ${before.segments}/${before.checkpoints})\n`);
        // Killed several times, at several points of the work (a checkpoint written, segments partly deleted).
        expect(kills).toBeGreaterThanOrEqual(3);
        expect(states.size).toBeGreaterThanOrEqual(2);
        const after = await census(blobs);
        expect(after.segments).toBeLessThan(before.segments);
        const last = await restoreEmbedded({ blobs, targetDataDir: join(root, 'restore-final'), codec, topicPrefix: prefix });
        expect({ ok: last.ok, seeded: last.seeded }).toEqual({ ok: true, seeded: ids.length });
        expect(await storeHeads(join(root, 'restore-final', 'store.sqlite'), ids)).toEqual(sourceHeads);
      } finally {
        if (place.shared) for await (const o of blobs.list('')) await blobs.delete(o.key);
        await blobs.close();
        await source.close();
      }
    }, 300_000);
  });
}
