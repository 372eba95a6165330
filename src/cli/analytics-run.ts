import { AnalyticsConsumer } from '../analytics/index.js';
import { ChangesetClaimCheck } from '../codec/changeset-blob.js';
import { readEnv, requireServers } from '../config/env.js';
import { openAnalytics } from '../sdk/analytics.js';
import type { Backend } from './backend.js';

/** The analytics consumer running in this process (what `agentstate start` adds to the demo). */
export interface AnalyticsRun {
  /** Stops after the batch in hand, catches up with what was written, closes the store. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts the analytics consumer beside the demo fleet: embedded, it writes
 * `<data dir>/analytics.sqlite`; on servers, MongoDB `state_metrics` and
 * `state_anomalies`, and anomalies to `<prefix>anomalies` either way.
 */
export async function startAnalytics(backend: Backend, dataDir: string, env: NodeJS.ProcessEnv): Promise<AnalyticsRun> {
  const opened = await openAnalytics(
    backend.log,
    backend.prefix,
    backend.kind === 'embedded' ? { kind: 'embedded', dataDir } : { kind: 'servers', mongo: requireServers(readEnv(env)).mongo, schemaRegistryUrl: readEnv(env).kafka?.schemaRegistryUrl },
  );
  const make = (): AnalyticsConsumer =>
    new AnalyticsConsumer({
      log: backend.log,
      store: opened.store,
      read: opened.read,
      ...(backend.codec instanceof ChangesetClaimCheck ? { changesets: backend.codec } : {}),
      heartbeats: opened.heartbeats,
      publisher: opened.publisher,
      topicPrefix: backend.prefix,
    });
  const ac = new AbortController();
  const running = make().run(ac.signal);
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        ac.abort();
        await running;
        try {
          await make().runUntilCaughtUp();
        } finally {
          await opened.close();
        }
      })();
      return stopped;
    },
  };
}
