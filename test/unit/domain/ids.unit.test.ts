import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/domain/errors.js';
import { epoch, instanceId, version } from '../../../src/domain/ids.js';
import { checksum } from '../../../src/domain/checksum.js';
import { initialState, stateAsJson } from '../../../src/domain/state.js';
import { applyChanges } from '../../../src/domain/changeset.js';

describe('branded ids', () => {
  it('accepts ordinary agent ids and refuses ones that cannot be keys, ids or file names', () => {
    expect(instanceId('agent-42.eu_west')).toBe('agent-42.eu_west');
    for (const bad of ['', 'a/b', 'tab\there', 'nul\u0000', 'x'.repeat(257)]) {
      expect(() => instanceId(bad), JSON.stringify(bad)).toThrow(InvalidInputError);
    }
  });

  it('versions and epochs are non-negative safe integers', () => {
    expect(version(0)).toBe(0);
    expect(epoch(2 ** 40)).toBe(2 ** 40);
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => version(bad)).toThrow(/not a non-negative safe integer/);
      expect(() => epoch(bad)).toThrow(InvalidInputError);
    }
  });
});

describe('initialState', () => {
  it('has every section, so the first changesets can address them', () => {
    const s = stateAsJson(initialState(instanceId('agent-1'), 'assistant', 1_760_000_000_000));
    const next = applyChanges(s, [
      { path: '/executionState/taskHistory/-', op: 'create', newValue: { taskId: 't1' } },
      { path: '/memory/notes', op: 'create', newValue: 'remember the milk' },
      { path: '/status', op: 'update', oldValue: 'initializing', newValue: 'running' },
    ]);
    expect(next).toMatchObject({ status: 'running', memory: { notes: 'remember the milk' }, executionState: { taskHistory: [{ taskId: 't1' }] } });
    expect(checksum(s)).toBe(checksum(initialState(instanceId('agent-1'), 'assistant', 1_760_000_000_000)));
  });
});
