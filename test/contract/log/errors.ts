import { expect, it } from 'vitest';
import type { EventLog } from '../../../src/log/port.js';
import { rec, unique, type LogContext } from './helpers.js';

/** Error cases every adapter answers with the same code (issue 13: errors are part of the contract). */
export function errorsContract(ctx: LogContext, fresh: () => Promise<EventLog>): void {
  it('refuses bad consume options with AS_INVALID_INPUT', async () => {
    const topic = await ctx.topic();
    const signal = new AbortController().signal;
    const handler = async (): Promise<void> => undefined;
    await expect(ctx.log().consume({ group: '', topics: [topic], handler, signal })).rejects.toMatchObject({ code: 'AS_INVALID_INPUT' });
    await expect(ctx.log().consume({ group: ctx.group(), topics: [], handler, signal })).rejects.toMatchObject({ code: 'AS_INVALID_INPUT' });
    await expect(ctx.log().consume({ group: ctx.group(), topics: [topic], handler, signal, maxBatchRecords: 0 })).rejects.toMatchObject({ code: 'AS_INVALID_INPUT' });
  });

  it('answers an unknown topic with AS_NOT_FOUND', async () => {
    await expect(ctx.log().partitionFor(unique('missing-'), 'k')).rejects.toMatchObject({ code: 'AS_NOT_FOUND' });
  });

  it('answers use after close with AS_CLOSED, not retryable', async () => {
    const topic = await ctx.topic();
    const log = await fresh();
    await log.append(topic, [rec('k', 'v')]);
    await log.close();
    await expect(log.append(topic, [rec('k', 'w')])).rejects.toMatchObject({ code: 'AS_CLOSED', retryable: false });
    await expect(log.read(topic, 0, '0', '1')).rejects.toMatchObject({ code: 'AS_CLOSED' });
  });
}
