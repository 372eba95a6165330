import { createServer, type Server } from 'node:http';
import { pino, type DestinationStream, type Logger } from 'pino';
import { redactUrlsIn } from '../../src/util/redact.js';

/**
 * A service's logger. Every line passes through {@link redactUrlsIn}: a
 * driver's error (or its cause) may quote a connection URL with credentials,
 * and a log line is no place for a password (issue 12 §7).
 */
export function serviceLogger(service: string, level?: string, destination?: DestinationStream): Logger {
  const options = { ...(level ? { level } : {}), base: { service }, hooks: { streamWrite: redactUrlsIn } };
  return destination ? pino(options, destination) : pino(options);
}

/** What `/health` answers: 200 when `ok`, else 503, with `body` as JSON. */
export interface HealthReport {
  ok: boolean;
  body: Record<string, unknown>;
}

/**
 * The HTTP face every service has: `/metrics` (Prometheus text) and `/health`
 * (JSON; a failing check is a 503 naming the error). Port 0 turns it off.
 */
export async function serveMetricsAndHealth(port: number, metrics: { render(): string }, health: () => Promise<HealthReport> = async () => ({ ok: true, body: { status: 'ok' } })): Promise<Server | undefined> {
  if (port === 0) return undefined;
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.render());
    } else if (req.url === '/health') {
      health().then(
        (h) => res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(h.body)}\n`),
        (err: unknown) => res.writeHead(503, { 'content-type': 'application/json' }).end(`${JSON.stringify({ status: 'unavailable', error: (err as Error).message })}\n`),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(port, resolve));
  return server;
}

/** An AbortSignal that SIGTERM or SIGINT aborts (once), logging what the service does next. */
export function stopOnSignals(logger: Logger, whatNext: string): AbortSignal {
  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, `stopping: ${whatNext}`);
      stop.abort();
    });
  }
  return stop.signal;
}
