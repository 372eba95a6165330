import { afterEach, describe, expect, it } from 'vitest';
import type { Server } from 'node:http';
import { serveMetricsAndHealth } from '../../../services/lib/process.js';

/** The HTTP face every service shares: /metrics, /health (200, 503 with the reason), 404 else. */
describe('serveMetricsAndHealth', () => {
  let server: Server | undefined;
  afterEach(() => void server?.close());
  const url = (path: string): string => {
    const a = server!.address();
    if (typeof a !== 'object' || a === null) throw new Error('not listening');
    return `http://127.0.0.1:${a.port}${path}`;
  };
  const metrics = { render: () => 'agentstate_up 1\n' };

  it('serves metrics and a passing health check', async () => {
    // Port 0 turns the endpoint off.
    expect(await serveMetricsAndHealth(0, metrics)).toBeUndefined();
    server = await serveMetricsAndHealth(40_000 + Math.floor(Math.random() * 20_000), metrics);
    expect(await (await fetch(url('/metrics'))).text()).toBe('agentstate_up 1\n');
    const health = await fetch(url('/health'));
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
    expect((await fetch(url('/nope'))).status).toBe(404);
  });

  it('answers 503 with the report when the check fails or throws', async () => {
    let fail: 'report' | 'throw' = 'report';
    server = await serveMetricsAndHealth(40_000 + Math.floor(Math.random() * 20_000), metrics, async () => {
      if (fail === 'throw') throw new Error('kafka unreachable');
      return { ok: false, body: { status: 'rpo_exceeded' } };
    });
    const bad = await fetch(url('/health'));
    expect([bad.status, await bad.json()]).toEqual([503, { status: 'rpo_exceeded' }]);
    fail = 'throw';
    const down = await fetch(url('/health'));
    expect([down.status, await down.json()]).toEqual([503, { status: 'unavailable', error: 'kafka unreachable' }]);
  });
});
