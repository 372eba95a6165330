import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listManifestVersions, manifestKey, openManifest, restoreEmbedded, verifyBackup } from '../../../src/backup/index.js';
import { S3BlobStore } from '../../../src/blob/s3.js';
import { RegistryEventCodec } from '../../../src/client/index.js';
import { RegistryCodec } from '../../../src/codec/index.js';
import { KafkaEventLog } from '../../../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { archiveUntilCaughtUp, expectExactCoverage, writeAgents } from '../../unit/backup/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'agentstate-backup-int-'));

describe('backup on Kafka + S3', () => {
  let log: KafkaEventLog;
  let codec: RegistryEventCodec;
  let prefix: string;
  const ids = Array.from({ length: 16 }, (_, i) => `kafka-agent-${i}`);
  const s3 = (sub: string) => {
    const { s3: c } = stackEnv();
    return new S3BlobStore({ endpoint: c.endpoint, accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, bucket: c.bucket, prefix: `${prefix}${sub}/` });
  };

  beforeAll(async () => {
    log = new KafkaEventLog({ brokers: stackEnv().kafkaBrokers });
    prefix = `${uniqueName('backup')}.`;
    await log.setup(topicSpecs({ prefix, partitions: 3 }));
    codec = await RegistryEventCodec.create(new RegistryCodec({ url: stackEnv().schemaRegistryUrl }), topicNames(prefix).events);
    await writeAgents(log, prefix, ids, 4, 'r', true, codec);
  }, 60_000);
  afterAll(async () => {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('archives every offset once (Avro records byte for byte, If-None-Match on S3), verify --deep is clean, and a restore from S3 alone gives every agent back', async () => {
    const blobs = s3('a');
    await blobs.setup();
    try {
      await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, segmentMaxBytes: 4000, sessionTimeoutMs: 10_000 }, 60_000);
      expect(await expectExactCoverage(log, blobs, prefix)).toBeGreaterThan(3);
      const report = await verifyBackup({ blobs, codec, deep: true, partitions: 3 });
      expect(report.problems).toEqual([]);
      expect(report.agents).toBe(ids.length);
      expect(report.deep!.folded).toBe(ids.length);
      expect(report.deep!.rejected).toEqual({});
      // Kafka gone, MongoDB gone: the S3 backup alone restores every agent (fold of the backup = the projector's result).
      const restored = await restoreEmbedded({ blobs, targetDataDir: join(dir, 'from-s3'), codec, topicPrefix: prefix });
      expect({ ok: restored.ok, agents: restored.agents, mismatched: restored.mismatched }).toEqual({ ok: true, agents: ids.length, mismatched: [] });
      expect(restored.published).toBe(report.records);
    } finally {
      await blobs.close();
    }
  }, 120_000);

  it('two backup processes racing on one S3 backup never fork a manifest', async () => {
    const blobs = s3('race');
    await blobs.setup();
    try {
      await Promise.all([
        archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, group: `${prefix}g1`, segmentMaxBytes: 2500, sessionTimeoutMs: 10_000 }, 60_000),
        archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, group: `${prefix}g2`, segmentMaxBytes: 2500, sessionTimeoutMs: 10_000 }, 60_000),
      ]);
      await expectExactCoverage(log, blobs, prefix);
      expect((await verifyBackup({ blobs, codec })).problems).toEqual([]);
    } finally {
      await blobs.close();
    }
  }, 120_000);

  it('verify names a deleted segment and a truncated manifest on S3 with their offsets', async () => {
    const blobs = s3('tamper');
    await blobs.setup();
    try {
      await archiveUntilCaughtUp({ log, blobs, codec, topicPrefix: prefix, group: `${prefix}tamper`, segmentMaxBytes: 3000, sessionTimeoutMs: 10_000 }, 60_000);
      const [v1] = await listManifestVersions(blobs, 0);
      const m1 = await openManifest((await blobs.get(v1!.key))!, v1!.key);
      await blobs.delete(m1.segment.key);
      const versions1 = await listManifestVersions(blobs, 1);
      const last = versions1.at(-1)!;
      const lastM = await openManifest((await blobs.get(last.key))!, last.key);
      await blobs.put(manifestKey(1, last.version), (await blobs.get(last.key))!.subarray(0, 40));
      const report = await verifyBackup({ blobs, codec });
      expect(report.problems.map((p) => [p.kind, p.partition, p.firstOffset, p.lastOffset])).toEqual([
        ['segment_missing', 0, m1.segment.firstOffset, m1.segment.lastOffset],
        ['manifest_corrupt', 1, lastM.segment.firstOffset, undefined],
      ]);
    } finally {
      await blobs.close();
    }
  }, 120_000);
});
