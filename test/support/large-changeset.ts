import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { AgentStateClient } from '../../src/client/index.js';
import { DEFAULT_CHANGESET_LIMITS } from '../../src/codec/index.js';

/** ~`bytes` of JSON string that does not compress (random base64). Compare it with isDeepStrictEqual so a failure does not print it. */
export function payload(bytes: number): string {
  return randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64');
}

/**
 * Issue 12 §6: an update past the hard cap is AS_TOO_LARGE naming
 * maxChangesetBytes and the limit, not retryable, and the agent stays at
 * `version` (nothing was written).
 */
export async function expectHardCapRefused(client: AgentStateClient, instanceId: string, version: number): Promise<void> {
  const over = payload(DEFAULT_CHANGESET_LIMITS.maxChangesetBytes + 1024);
  const err = await client.memoryUpdated(instanceId, { over }).then(
    () => undefined,
    (e: unknown) => e as { code: string; retryable: boolean; message: string },
  );
  expect(err).toMatchObject({ code: 'AS_TOO_LARGE', retryable: false });
  expect(err?.message).toMatch(new RegExp(`maxChangesetBytes.*exceeds the limit of ${DEFAULT_CHANGESET_LIMITS.maxChangesetBytes} bytes`));
  expect(client.getState(instanceId)?.version).toBe(version);
}
