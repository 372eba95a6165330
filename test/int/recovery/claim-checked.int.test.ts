import { describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../../src/blob/s3.js';
import { AgentStateClient, JsonEventCodec } from '../../../src/client/index.js';
import { withChangesets } from '../../../src/codec/index.js';
import { KafkaEventLog } from '../../../src/log/kafka/index.js';
import { topicNames, topicSpecs } from '../../../src/log/topics.js';
import { findRestorePoint } from '../../../src/recovery/restore.js';
import { recoveryBlobs } from '../../../src/sdk/recovery-wiring.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { payload } from '../../support/large-changeset.js';

/**
 * Issue 12 §6 meets recovery: a restore-point search folds the agent's
 * history, and a claim-checked changeset in it must be fetched from the
 * deployment's blob store, which the recovery service's composition root
 * (services/recovery, the demo) now hands it. Real Kafka and S3.
 */
describe('recovery: a restore point past a claim-checked changeset (Kafka + S3)', () => {
  it('is found with the blob store the service is wired with, and is AS_CONFIG without one', async () => {
    const s = stackEnv();
    const prefix = `${uniqueName('rec-cc')}.`;
    const log = new KafkaEventLog({ brokers: s.kafkaBrokers });
    const blobs = new S3BlobStore({ ...s.s3, prefix, createBucket: false });
    try {
      await log.setup(topicSpecs({ prefix, partitions: 3 }));
      const writer = await AgentStateClient.connect({ log, codec: withChangesets(new JsonEventCodec(), blobs), topicPrefix: prefix, bootstrap: false });
      const id = 'rc-1';
      try {
        await writer.createAgent(id, { agentType: 'worker' });
        await writer.taskAssigned(id, { taskId: 't-1', type: 'before-the-large-update' });
        await writer.taskCompleted(id, { ok: 1 });
        await writer.taskAssigned(id, { taskId: 't-2', type: 'across-it' });
        const big = await writer.memoryUpdated(id, { big: payload(700 * 1024) }); // past claimCheckBytes (512 KiB)
        const completed = await writer.taskCompleted(id, { ok: 2 });
        await writer.errorOccurred(id, { message: 'after the last good task' });
        expect(big.newVersion).toBe(5);
        expect(completed.newVersion).toBe(6);
      } finally {
        await writer.close();
      }
      // The event on the log carries only the reference: the changeset is in S3.
      const events = topicNames(prefix).events;
      const partition = await log.partitionFor(events, id);
      const records = await log.read(events, partition, '0', (await log.endOffsets(events))[partition]!);
      const claimed = await new JsonEventCodec().decode(records.find((r) => r.key === id && r.value!.includes('"changesetRef"'))!.value!);
      expect(claimed.changesetRef?.bytes).toBeGreaterThan(512 * 1024);

      // As services/recovery wires it on the servers: S3 from S3_ENDPOINT/S3_BUCKET under the topic prefix.
      const wired = recoveryBlobs({ kind: 'servers', s3: s.s3, topicPrefix: prefix });
      expect(wired).toBeDefined();
      const point = await findRestorePoint(log, withChangesets(new JsonEventCodec(), wired!), events, id, 'last_known_good', Number.MAX_SAFE_INTEGER);
      expect(point).toMatchObject({ version: 6, why: expect.stringContaining('task completed at version 6') as unknown });
      expect((point!.state as { memory: { big: string } }).memory.big.length).toBeGreaterThan(512 * 1024);

      // What the service had on the servers before: the log's codec alone, no blob store.
      expect(recoveryBlobs({ kind: 'servers', s3: undefined, topicPrefix: prefix })).toBeUndefined();
      await expect(findRestorePoint(log, new JsonEventCodec(), events, id, 'last_known_good', Number.MAX_SAFE_INTEGER)).rejects.toMatchObject({ code: 'AS_CONFIG' });
    } finally {
      await blobs.close();
      await log.close();
    }
  });
});
