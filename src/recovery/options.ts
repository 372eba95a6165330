import { DEFAULT_TOPIC_PREFIX } from '../log/topics.js';
import { ConfigError } from '../errors.js';
import { nonNegativeNumber, positiveInt, positiveNumber } from '../util/options.js';
import type { RecoveryEngineOptions } from './engine.js';
import type { PhiOptions } from './phi.js';
import type { RecoveryServiceOptions } from './service.js';

/** The recovery service's consumer group, by default `<prefix>recovery`. */
export function recoveryGroup(prefix: string = DEFAULT_TOPIC_PREFIX): string {
  return `${prefix}recovery`;
}

/**
 * The recovery capability's defaults, one object per options type, applied
 * once at the boundary by the resolve functions below (STYLE.md habit 5,
 * issue 13). The `@default` tags of the interfaces say the same
 * (test/unit/config/defaults.unit.test.ts checks).
 */

export const DEFAULT_PHI_OPTIONS: Readonly<Required<PhiOptions>> = Object.freeze({ threshold: 8, windowSize: 100, minStdDevRatio: 0.2, acceptablePauseRatio: 0.5, intervalsFrom: 'sender', beats: 'periodic' });

export const DEFAULT_RECOVERY_ENGINE_OPTIONS: Readonly<Required<Pick<RecoveryEngineOptions, 'servingTimeoutMs' | 'leaseMs'>>> = Object.freeze({ servingTimeoutMs: 10_000, leaseMs: 15_000 });

export const DEFAULT_RECOVERY_SERVICE_OPTIONS: Readonly<Required<Pick<RecoveryServiceOptions, 'topicPrefix' | 'tickMs' | 'servingTimeoutMs' | 'leaseMs' | 'sessionTimeoutMs'>>> = Object.freeze({
  topicPrefix: DEFAULT_TOPIC_PREFIX,
  tickMs: 100,
  ...DEFAULT_RECOVERY_ENGINE_OPTIONS,
  sessionTimeoutMs: 10_000,
});

export type ResolvedPhiOptions = Required<PhiOptions>;

/** @throws ConfigError naming the field */
export function resolvePhiOptions(o: PhiOptions = {}): ResolvedPhiOptions {
  const r = { ...DEFAULT_PHI_OPTIONS, ...o };
  positiveNumber(r.threshold, 'phi.threshold');
  positiveInt(r.windowSize, 'phi.windowSize');
  nonNegativeNumber(r.minStdDevRatio, 'phi.minStdDevRatio');
  nonNegativeNumber(r.acceptablePauseRatio, 'phi.acceptablePauseRatio');
  if (r.intervalsFrom !== 'sender' && r.intervalsFrom !== 'arrival') throw new ConfigError('phi.intervalsFrom', `"${String(r.intervalsFrom)}" is not sender or arrival`);
  if (r.beats !== 'periodic' && r.beats !== 'all') throw new ConfigError('phi.beats', `"${String(r.beats)}" is not periodic or all`);
  return r;
}

export type ResolvedRecoveryEngineOptions = RecoveryEngineOptions & typeof DEFAULT_RECOVERY_ENGINE_OPTIONS;

/** @throws ConfigError naming the field */
export function resolveRecoveryEngineOptions(o: RecoveryEngineOptions): ResolvedRecoveryEngineOptions {
  const r = { ...DEFAULT_RECOVERY_ENGINE_OPTIONS, ...o };
  positiveInt(r.servingTimeoutMs, 'servingTimeoutMs');
  positiveInt(r.leaseMs, 'leaseMs');
  return r;
}

export type ResolvedRecoveryServiceOptions = RecoveryServiceOptions & typeof DEFAULT_RECOVERY_SERVICE_OPTIONS & { group: string };

/** @throws ConfigError naming the field */
export function resolveRecoveryServiceOptions(o: RecoveryServiceOptions): ResolvedRecoveryServiceOptions {
  const r = { ...DEFAULT_RECOVERY_SERVICE_OPTIONS, ...o };
  for (const field of ['tickMs', 'servingTimeoutMs', 'leaseMs', 'sessionTimeoutMs'] as const) positiveInt(r[field], field);
  return { ...r, group: o.group ?? recoveryGroup(r.topicPrefix) };
}
