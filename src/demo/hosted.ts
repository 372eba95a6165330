import { Random, loadTextSources, type TextSources } from '../corpus/index.js';
import type { JsonValue } from '../domain/index.js';
import { AgentStateError } from '../errors.js';
import type { AgentContext, AgentFactory, RuntimeAgent } from '../runtime/host.js';
import { act, sleep, type FleetCounters } from './fleet.js';

/**
 * Agent behaviours a runtime host can run (issue 15): the demo fleet's
 * simulated LLM agents (agent types `researcher` and `assistant`), and
 * `counter`, a load agent whose every step adds one to `memory.count`, so a
 * test can check that every acknowledged write survived a recovery.
 */

/** The demo behaviour, one action per step, paced by `thinkMs`. */
export function demoAgentFactory(options: { seed?: number; thinkMs?: number; counters: FleetCounters }): AgentFactory {
  let text: TextSources | undefined;
  let n = 0;
  return (ctx: AgentContext): RuntimeAgent => {
    text ??= loadTextSources();
    const rnd = new Random((options.seed ?? 1) * 100_003 + n++);
    const think = options.thinkMs ?? 250;
    return {
      async step() {
        await sleep(rnd.int(think / 2, think * 1.5), ctx.signal);
        if (ctx.signal.aborted) return;
        try {
          await act(ctx.instanceId, rnd, text!, ctx.client, options.counters);
        } catch (err) {
          options.counters.writeErrors++;
          options.counters.lastError = err instanceof AgentStateError ? `${err.code}: ${err.message}` : String(err);
          throw err; // the host backs off, or stops the agent when it was fenced
        }
        options.counters.events++;
        if (ctx.client.getState(ctx.instanceId)?.state.status === 'error') options.counters.failures++;
      },
    };
  };
}

/** `memory.count` + 1 per step; `onAck` hears each acknowledged count. */
export function counterAgentFactory(options: { intervalMs?: number; onAck?: (instanceId: string, count: number, version: number) => void }): AgentFactory {
  return (ctx: AgentContext): RuntimeAgent => ({
    async step() {
      await sleep(options.intervalMs ?? 100, ctx.signal);
      if (ctx.signal.aborted) return;
      let count = 0;
      const res = await ctx.client.updateState(
        ctx.instanceId,
        (d) => {
          count = ((d.memory.count as JsonValue as number | undefined) ?? 0) + 1;
          d.memory.count = count;
        },
        { eventType: 'memory_updated' },
      );
      options.onAck?.(ctx.instanceId, count, res.newVersion);
    },
  });
}
