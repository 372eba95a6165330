import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { EventLog } from '../log/port.js';
import { heartbeatKey, type NodeHeartbeat } from '../runtime/types.js';
import type { RuntimeWire } from '../runtime/wire.js';
import type { AccessRecorder } from '../telemetry/access.js';

export interface AccessReporterOptions {
  log: Pick<EventLog, 'append'>;
  wire: Pick<RuntimeWire, 'encodeHeartbeat'>;
  /** `<prefix>heartbeats`. */
  topic: string;
  recorder: AccessRecorder;
  /** How often the figures are sent (and once more at close). */
  intervalMs: number;
  logger?: Logger;
}

/**
 * Sends a plain SDK process's access figures (reads through its
 * StateManager, acknowledged writes through its client) to analytics, by the
 * path a runtime host's figures take: every `intervalMs` and at close, the
 * recorder is drained into an access report on `<prefix>heartbeats`, a
 * heartbeat with role `access`, no agents and its own node id (key
 * `node:sdk-<host>-<pid>-<random>`). The analytics consumer adds its
 * `access` to the agents' windows; neither recovery nor analytics takes it
 * for a host. Nothing is sent when nothing was recorded; a failed append puts
 * the figures back for the next report (docs/analytics.md, Access figures).
 */
export class AccessReporter {
  readonly nodeId = `sdk-${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private sequence = 0;
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();

  constructor(private readonly o: AccessReporterOptions) {}

  start(): void {
    this.timer ??= setInterval(() => void this.report(), this.o.intervalMs);
    this.timer.unref();
  }

  /** Sends what was recorded up to now, after any report under way; resolves once appended (or failed and put back). */
  report(): Promise<void> {
    this.sending = this.sending.then(() => this.send());
    return this.sending;
  }

  /** Stops the timer and sends the last figures. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.report();
  }

  private async send(): Promise<void> {
    const access = this.o.recorder.drain();
    if (access.length === 0) return;
    try {
      const h: NodeHeartbeat = {
        nodeId: this.nodeId,
        host: hostname(),
        dataCenter: null,
        region: null,
        timestamp: Date.now(),
        sequence: ++this.sequence,
        status: 'running',
        intervalMs: this.o.intervalMs,
        load: 0,
        heapUsedBytes: process.memoryUsage().heapUsed,
        agents: [],
        access,
        role: 'access',
      };
      await this.o.log.append(this.o.topic, [{ key: heartbeatKey(this.nodeId), value: await this.o.wire.encodeHeartbeat(h) }]);
    } catch (err) {
      this.o.recorder.restore(access);
      this.o.logger?.warn({ err }, 'access report failed; its figures go with the next one');
    }
  }
}
