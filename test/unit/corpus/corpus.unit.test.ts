import { describe, expect, it } from 'vitest';
import { generateEvents } from '../../../src/corpus/events.js';
import { SIZE_CLASSES, generateState } from '../../../src/corpus/generate.js';
import { loadTextSources } from '../../../src/corpus/text.js';
import { canonicalJson } from '../../../src/domain/json.js';
import { fold } from '../../../src/domain/reducer.js';
import { checksum } from '../../../src/domain/checksum.js';

describe('realistic corpus', () => {
  it('keeps the smallest class small for every seed', () => {
    for (let seed = 0; seed < 30; seed++) {
      expect(Buffer.byteLength(canonicalJson(generateState({ seed, targetBytes: 1024 })))).toBeLessThan(2.5 * 1024);
    }
  });

  it('is reproducible: same seed, same bytes; another seed, other bytes', () => {
    const a = canonicalJson(generateState({ seed: 7, targetBytes: 20_000 }));
    expect(canonicalJson(generateState({ seed: 7, targetBytes: 20_000 }))).toBe(a);
    expect(canonicalJson(generateState({ seed: 8, targetBytes: 20_000 }))).not.toBe(a);
  });

  it.each([
    ['1KB', 2.5 * 1024],
    ['10KB', 16 * 1024],
    ['100KB', 120 * 1024],
    ['1MB', 1.1 * 1024 * 1024],
  ] as const)('hits the %s size class (canonical JSON bytes)', (cls, upper) => {
    const bytes = Buffer.byteLength(canonicalJson(generateState({ seed: 1, targetBytes: SIZE_CLASSES[cls] })));
    expect(bytes).toBeGreaterThanOrEqual(SIZE_CLASSES[cls]);
    expect(bytes).toBeLessThan(upper);
  });

  it('holds an LLM agent’s parts: conversation from real text, tool calls with JSON, tasks, metrics, embeddings', () => {
    const s = generateState({ seed: 3, targetBytes: 200_000 });
    const memory = s.memory as { conversation: { role: string; content: string }[]; toolCalls: { arguments: object }[]; embeddings: { vectors: { values: number[] }[] } };
    expect(memory.conversation.length).toBeGreaterThan(20);
    expect(new Set(memory.conversation.map((m) => m.role))).toEqual(new Set(['user', 'assistant']));
    expect(memory.toolCalls.length).toBeGreaterThan(5);
    expect(typeof memory.toolCalls[0]!.arguments).toBe('object');
    expect(s.executionState.taskHistory.length).toBeGreaterThan(0);
    expect(memory.embeddings.vectors[0]!.values).toHaveLength(1536);
    // Text comes from corpus/, not filler: every message is a span of a real document.
    const { prose, technical } = loadTextSources();
    const sources = prose.join(' ') + '\n' + technical.join('\n\n');
    for (const m of memory.conversation.slice(0, 20)) expect(sources).toContain(m.content.slice(0, 40));
    // And it is not one repeated paragraph.
    expect(new Set(memory.conversation.map((m) => m.content)).size).toBeGreaterThan(memory.conversation.length * 0.9);
  });

  it('generates a valid event log that folds to its last checksum', () => {
    const events = generateEvents(5, 12, 30_000);
    const result = fold(events);
    expect(result.rejected).toEqual([]);
    expect(result.projection?.version).toBe(12);
    expect(result.projection?.checksum).toBe(events[11]!.stateChecksum);
    expect(checksum(result.projection?.state)).toBe(events[11]!.stateChecksum);
  });
});
