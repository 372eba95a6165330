/**
 * The analytics process (issue 16; DESIGN.md The shape): wiring, signals,
 * metrics. Logic lives in src/analytics. Runs on both profiles: Kafka +
 * MongoDB when KAFKA_BROKERS is set, else the embedded SQLite log and
 * `<data dir>/analytics.sqlite`. SIGTERM/SIGINT: finish and commit the batch
 * in hand, exit 0. A kill -9 loses and doubles nothing: each agent's
 * checkpoint names the last record folded in (docs/analytics.md).
 */
import { AnalyticsConsumer } from '../../src/analytics/index.js';
import { ChangesetClaimCheck } from '../../src/codec/changeset-blob.js';
import { openAnalytics } from '../../src/sdk/analytics.js';
import { openLog } from '../../src/sdk/wiring.js';
import { checkStoreMatchesLog } from '../../src/sdk/log-check.js';
import { runService, storeLocation } from '../lib/service.js';
import { loadConfig } from './config.js';

const HELP = {
  agentstate_analytics_events_total: 'Events folded by analytics, by result (applied, rejected by the log rules).',
  agentstate_analytics_skipped_total: 'Records skipped, by reason (undecodable, missing_field, unknown_type, redelivered...).',
  agentstate_analytics_anomalies_total: 'Anomaly records published, by type and status.',
  agentstate_analytics_lag: 'Records behind the partition end when the last batch was fetched.',
  agentstate_analytics_batch_seconds: 'Time to fold a batch and write its windows, anomalies and checkpoints.',
  agentstate_analytics_restarts_total: 'Consumer restarts after a failure.',
  agentstate_analytics_windows_expired_total: 'Window documents deleted by retention.',
};

runService('analytics', HELP, loadConfig, async (config, logger, metrics) => {
  const opened = await openLog(
    config.profile === 'servers'
      ? { kind: 'servers', kafka: config.kafka!, topicPrefix: config.topicPrefix, clientId: 'agentstate-analytics', logger, ...(config.s3 ? { s3: config.s3 } : {}) }
      : { kind: 'embedded', dataDir: config.dataDir, topicPrefix: config.topicPrefix },
  );
  const problems = await opened.setupTopics();
  for (const p of problems) logger.warn({ problem: p }, 'topic differs from the default layout');
  // Issue 12 §3: a log emptied, replaced or behind the store is refused here (AS_LOG_MISMATCH), as the projector refuses it.
  await checkStoreMatchesLog(opened.log, opened.topics.events, storeLocation(config)).catch(async (err: unknown) => {
    await opened.close();
    throw err;
  });
  const analytics = await openAnalytics(
    opened.log,
    config.topicPrefix,
    config.profile === 'servers' ? { kind: 'servers', mongo: config.mongo!, schemaRegistryUrl: config.kafka!.schemaRegistryUrl } : { kind: 'embedded', dataDir: config.dataDir },
  );
  const consumer = new AnalyticsConsumer({
    log: opened.log,
    store: analytics.store,
    read: analytics.read,
    // Claim-checked changesets resolved and verified as every reader does (issue 12 §2): the data dir's blobs/, or S3 when set.
    ...(opened.codec instanceof ChangesetClaimCheck ? { changesets: opened.codec } : {}),
    heartbeats: analytics.heartbeats,
    ...(config.publish ? { publisher: analytics.publisher } : {}),
    topicPrefix: config.topicPrefix,
    group: config.group,
    ...(config.windows ? { windows: config.windows } : {}),
    thresholds: config.thresholds,
    thresholdsByAgentType: config.thresholdsByAgentType,
    sessionTimeoutMs: config.sessionTimeoutMs,
    maxBatchRecords: config.maxBatchRecords,
    metrics,
    logger,
  });
  return {
    run: (stop) => (config.untilCaughtUp ? consumer.runUntilCaughtUp(stop) : consumer.run(stop)),
    health: async () => {
      const [end, committed] = await Promise.all([opened.log.endOffsets(opened.topics.events), opened.log.committedOffsets(config.group, opened.topics.events)]);
      const lag = Object.fromEntries(Object.entries(end).map(([p, e]) => [p, (BigInt(e) - BigInt(committed[Number(p)] ?? '0')).toString()]));
      return { ok: true, body: { status: 'ok', profile: config.profile, group: config.group, lag } };
    },
    onStop: 'after the batch in hand',
    started: { profile: config.profile, group: config.group, prefix: config.topicPrefix, untilCaughtUp: config.untilCaughtUp },
    close: async () => void (await Promise.allSettled([analytics.close(), opened.close()])),
  };
});
