import { AgentStateClient } from '../client/client.js';
import { ConfigError, NotFoundError } from '../errors.js';
import { StateManager } from '../manager/manager.js';
import { decodeState } from '../codec/state-body.js';
import { Projector } from '../projector/projector.js';
import { bindLog } from '../integrity/log-binding.js';
import { resolveOptions, type OpenAgentStateOptions } from './options.js';
import { probeServers } from './probe.js';
import { subscribeStates, type SubscribedState, type SubscribeHandlerOptions, type SubscribeOptions } from './subscribe.js';
import { openLog, openSinks, type OpenedLog, type OpenedSinks } from './wiring.js';
import { AccessRecorder } from '../telemetry/access.js';
import { openRuntimeWire } from './recovery-wiring.js';
import { AccessReporter } from './access-report.js';

/** What {@link openAgentState} returns: one writer, one reader, the state feed, one close. */
export interface OpenedAgentState {
  /** The writer agent runtimes use (createAgent, updateState, typed helpers, acquire/release). */
  client: AgentStateClient;
  /** Reads, history, time travel, rollback (through `client`) and snapshots, over the projection. */
  manager: StateManager;
  /**
   * The compacted state topic as typed states, claim checks resolved: an
   * async iterable, or with `onState` a promise that settles when stopped.
   */
  subscribe: {
    // The handler form first: TypeScript types `onState`'s parameter from the first overload that has it.
    (options: SubscribeHandlerOptions): Promise<void>;
    (options?: SubscribeOptions): AsyncIterable<SubscribedState>;
  };
  /** 'embedded' or 'servers', and where: "embedded (sqlite ./.agentstate/log.sqlite)", "kafka host:port + registry ...". */
  profile: 'embedded' | 'servers';
  description: string;
  /** Whether this process runs a projector (see `OpenAgentStateOptions.projector`). */
  projector: 'in-process' | 'none';
  /** Stops the projector and subscriptions, closes the writer and every connection. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Opens agentstate from options and the environment: the embedded profile
 * (SQLite + files in `dataDir`, an in-process projector) when no server is
 * configured, else Kafka + schema registry + MongoDB + S3 (+ Redis), checked
 * for reachability first so a wrong address fails in seconds, not minutes.
 *
 * @throws ConfigError (AS_CONFIG) naming the bad or missing option/variable
 * @throws AgentStateError AS_UNAVAILABLE naming each unreachable server and the setting to check
 */
export async function openAgentState(options: OpenAgentStateOptions = {}): Promise<OpenedAgentState> {
  const o = await resolveOptions(options);
  if (o.profile === 'servers') await probeServers(o.servers, o.names, o.connectTimeoutMs);
  let logSide: OpenedLog | undefined;
  let sinks: OpenedSinks | undefined;
  let client: AgentStateClient | undefined;
  let reporter: AccessReporter | undefined;
  const projectorStop = new AbortController();
  let projectorRun: Promise<void> | undefined;
  const subscriptions = new AbortController();
  try {
    logSide =
      o.profile === 'servers'
        ? await openLog({ kind: 'servers', kafka: o.servers.kafka, topicPrefix: o.topicPrefix, clientId: 'agentstate-sdk', connectionTimeoutMs: o.connectTimeoutMs, ...(options.logger ? { logger: options.logger } : {}) })
        : await openLog({ kind: 'embedded', dataDir: o.dataDir, topicPrefix: o.topicPrefix });
    const problems = await logSide.setupTopics();
    if (problems.length > 0) throw new ConfigError('topicPrefix', `topics do not match what agentstate needs: ${problems.join('; ')}`);
    sinks =
      o.profile === 'servers'
        ? await openSinks({ kind: 'servers', ...o.servers, topicPrefix: o.topicPrefix, masterKeys: o.masterKeys })
        : await openSinks({ kind: 'embedded', dataDir: o.dataDir, masterKeys: o.masterKeys });
    const { store, blobs, cache, keyring } = sinks;
    const { log, codec } = logSide;
    if (o.projector === 'in-process') {
      const projector = new Projector({
        log,
        codec,
        store,
        blobs,
        topicPrefix: o.topicPrefix,
        ...(cache ? { cache } : {}),
        ...(keyring ? { keyring } : {}),
        ...(options.snapshots ? { snapshots: options.snapshots } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
      });
      // A store that does not project this log fails the open (AS_LOG_MISMATCH, issue 12 §3), not the background run.
      await bindLog(log, store, logSide.topics.events, { group: projector.options.group, ...(cache ? { cache } : {}) });
      projectorRun = projector.run(projectorStop.signal);
      // A failed projector must not become an unhandled rejection; close() reports it.
      projectorRun.catch(() => undefined);
    }
    // Reads and acknowledged writes of this process, timed for analytics (averageReadTime, averageWriteTime, cacheHitRate).
    const access = o.accessReportMs > 0 ? new AccessRecorder() : undefined;
    client = await AgentStateClient.connect({
      log,
      codec,
      topicPrefix: o.topicPrefix,
      source: 'agentstate-sdk',
      ...(access ? { access } : {}),
      // Large changesets go to the profile's blob store (files embedded, S3 on servers).
      blobs,
      ...options.client,
      ...(options.logger ? { logger: options.logger } : {}),
      bootstrap: {
        resolveClaimCheck: async (v) => {
          const bytes = await blobs.get(v.claimCheck.blobKey);
          if (bytes === undefined) throw new NotFoundError(`claim-checked state ${v.claimCheck.blobKey} of agent ${v.instanceId}`);
          return decodeState(v.claimCheck.encoding, bytes);
        },
      },
    });
    const manager = new StateManager({
      store,
      blobs,
      backupCodec: codec,
      writer: client,
      ...(cache ? { cache } : {}),
      ...(keyring ? { keyring } : {}),
      ...(options.snapshots ? { snapshots: options.snapshots } : {}),
      ...(access ? { access } : {}),
    });
    if (access) {
      const wire = openRuntimeWire(o.profile === 'servers' ? o.servers.kafka.schemaRegistryUrl : undefined, logSide.topics);
      reporter = new AccessReporter({ log, wire, topic: logSide.topics.heartbeats, recorder: access, intervalMs: o.accessReportMs, ...(options.logger ? { logger: options.logger } : {}) });
      reporter.start();
    }
    const source = { log, blobs, topic: logSide.topics.state, prefix: o.topicPrefix };
    const subscribe = ((s: SubscribeOptions | SubscribeHandlerOptions = {}) => {
      const signal = s.signal ? AbortSignal.any([s.signal, subscriptions.signal]) : subscriptions.signal;
      const states = subscribeStates(source, { ...s, signal });
      if (!('onState' in s)) return states;
      return (async () => {
        for await (const state of states) await s.onState(state);
      })();
    }) as OpenedAgentState['subscribe'];
    let closing: Promise<void> | undefined;
    const opened = { log: logSide, sinks, client, reporter };
    return {
      client,
      manager,
      subscribe,
      profile: o.profile,
      description: logSide.description,
      projector: o.projector,
      close: () => (closing ??= closeAll(opened, projectorStop, projectorRun, subscriptions)),
    };
  } catch (e) {
    await closeAll({ log: logSide, sinks, client, reporter }, projectorStop, projectorRun, subscriptions).catch(() => undefined);
    throw e;
  }
}

/** Reverse order of opening: readers and projector first, then the writer, then the connections they used. */
async function closeAll(
  opened: { log: OpenedLog | undefined; sinks: OpenedSinks | undefined; client: AgentStateClient | undefined; reporter: AccessReporter | undefined },
  projectorStop: AbortController,
  projectorRun: Promise<void> | undefined,
  subscriptions: AbortController,
): Promise<void> {
  subscriptions.abort();
  projectorStop.abort();
  const projected = await projectorRun?.then(
    () => undefined,
    (e: unknown) => e,
  );
  // The last access figures, while the log is open (a failed append is logged, never fails the close).
  await opened.reporter?.close();
  await opened.client?.close();
  await opened.sinks?.close();
  await opened.log?.close();
  if (projected !== undefined) throw projected;
}
