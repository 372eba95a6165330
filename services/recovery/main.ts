/**
 * The recovery process (issue 15): wiring, signals, metrics. Logic lives in
 * src/recovery. SIGTERM/SIGINT: stop detecting, leave the recoveries in hand
 * where they are (their leases lapse to another instance, which continues
 * them), exit 0. A kill -9 loses nothing either: every recovery is a record
 * whose lease lapses, and a start command carries the epoch it replaces, so a
 * second start of the same agent is refused or fenced.
 */
import { AgentStateClient } from '../../src/client/index.js';
import { RecoveryService } from '../../src/recovery/index.js';
import { openRecoveryRecords, openRuntimeWire, recoveryBlobs } from '../../src/sdk/recovery-wiring.js';
import { openLog } from '../../src/sdk/wiring.js';
import { checkStoreMatchesLog } from '../../src/sdk/log-check.js';
import { runService, storeLocation } from '../lib/service.js';
import { loadConfig } from './config.js';

const HELP = {
  agentstate_recovery_detections_total: 'Failures detected, by type (node_silent, error_burst, agent_stuck, fenced_writes, crash_loop).',
  agentstate_recoveries_total: 'Recoveries finished, by result (succeeded, failed, skipped, gave_up).',
  agentstate_recovery_time_to_detect_seconds: 'From the last heartbeat of a failed host to its detection.',
  agentstate_recovery_time_to_serving_seconds: 'From the last heartbeat of a failed host to its agent serving on another.',
  agentstate_recovery_takeovers_total: 'Recoveries taken over from an instance whose lease lapsed.',
  agentstate_recovery_dlq_total: 'Heartbeat or control records sent to the DLQ (malformed, unknown node).',
  agentstate_recovery_nodes_alive: 'Runtime hosts heartbeating now.',
  agentstate_recovery_in_progress: 'Recoveries this instance is executing.',
};

runService('recovery', HELP, loadConfig, async (config, logger, metrics) => {
  const opened =
    config.profile === 'servers'
      ? await openLog({ kind: 'servers', kafka: config.kafka!, topicPrefix: config.topicPrefix, clientId: 'agentstate-recovery', logger })
      : await openLog({ kind: 'embedded', dataDir: config.dataDir, topicPrefix: config.topicPrefix });
  const problems = await opened.setupTopics();
  for (const p of problems) logger.warn({ problem: p }, 'topic differs from the default layout');
  // Issue 12 §3: a log emptied, replaced or behind the store is refused here (AS_LOG_MISMATCH), as the projector refuses it.
  await checkStoreMatchesLog(opened.log, opened.topics.events, storeLocation(config)).catch(async (err: unknown) => {
    await opened.close();
    throw err;
  });
  const store = await openRecoveryRecords(config.profile === 'servers' ? { kind: 'servers', mongo: config.mongo! } : { kind: 'embedded', dataDir: config.dataDir });
  const client = await AgentStateClient.connect({ log: opened.log, codec: opened.codec, topicPrefix: config.topicPrefix, source: 'agentstate-recovery', logger, scope: 'fleet' }); // watches and validates agents it does not own
  // Restore points are searched across claim-checked changesets too: their blobs come from the profile's blob store.
  const blobs = recoveryBlobs(config.profile === 'servers' ? { kind: 'servers', s3: config.s3, topicPrefix: config.topicPrefix } : { kind: 'embedded', dataDir: config.dataDir });
  if (!blobs) logger.warn('S3_ENDPOINT/S3_BUCKET are not set: a restore point past a claim-checked changeset cannot be searched (AS_CONFIG)');
  const service = new RecoveryService({
    log: opened.log,
    codec: opened.codec,
    ...(blobs ? { blobs } : {}),
    wire: openRuntimeWire(config.kafka?.schemaRegistryUrl, opened.topics),
    store,
    client,
    topicPrefix: config.topicPrefix,
    group: config.group,
    ...(config.instance ? { instance: config.instance } : {}),
    phi: { threshold: config.phiThreshold },
    tickMs: config.tickMs,
    servingTimeoutMs: config.servingTimeoutMs,
    leaseMs: config.leaseMs,
    sessionTimeoutMs: config.sessionTimeoutMs,
    metrics,
    logger,
  });
  return {
    run: (stop) => service.run(stop),
    health: async () => {
      let alive = 0;
      for (const n of service.view.nodes.values()) if (n.status === 'alive') alive++;
      return { ok: true, body: { status: 'ok', instance: service.instance, nodesAlive: alive, nodesKnown: service.view.nodes.size, recoveriesInProgress: service.engine.active.size } };
    },
    onStop: 'leaving recoveries in hand to their leases',
    started: { profile: config.profile, group: config.group, prefix: config.topicPrefix, instance: service.instance },
    close: async () => {
      await Promise.allSettled([client.close()]);
      await Promise.allSettled([opened.close(), store.close()]);
    },
  };
});
