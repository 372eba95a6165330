/**
 * Phi-accrual failure detection (Hayashibara et al., 2004) over the observed
 * heartbeat intervals of one node: phi = -log10(P(a heartbeat comes later
 * than now)), with the intervals taken as normally distributed. The threshold
 * is on phi, so the silence it takes adapts to the node's own rhythm: a node
 * that heartbeats every second is suspected after about two silent seconds,
 * one that heartbeats every ten after about twenty.
 */
import { ConfigError } from '../errors.js';
import { nonNegativeNumber, positiveInt, positiveNumber } from '../util/options.js';

export interface PhiOptions {
  /** Suspect at phi >= threshold (8: about one false suspicion in 10^8 intervals). @default 8 */
  threshold?: number;
  /** Intervals remembered. @default 100 */
  windowSize?: number;
  /** Floor of the standard deviation, as a fraction of the mean (a metronome-steady sender would else be suspected after a few ms of delay). @default 0.2 */
  minStdDevRatio?: number;
  /** Silence tolerated on top of the mean (GC pauses, a busy broker), as a fraction of the mean. @default 0.5 */
  acceptablePauseRatio?: number;
  /**
   * Where the intervals are measured. `sender`: between the heartbeats' own
   * timestamps (the sender's rhythm: a difference of one clock, so skew does
   * not enter), when `heartbeat` is given them; the silence is still measured
   * from the last arrival. `arrival`: between arrivals, so the reader's
   * delays (a busy consumer, a catch-up burst) widen the distribution and
   * slow detection. @default 'sender'
   */
  intervalsFrom?: 'sender' | 'arrival';
  /**
   * Which heartbeats make the rhythm. `periodic`: only the sender's periodic
   * ones (NodeHeartbeat.periodic); an extra heartbeat (a host announcing an
   * agent it just started) neither enters the intervals nor restarts the
   * silence, which is measured from the last periodic arrival. `all`: every
   * heartbeat (the detector before 2026-12-03): a host starting agents one
   * after another sends a burst of extra heartbeats milliseconds apart, the
   * learned interval shrinks to them, and its next ordinary one-second gap is
   * taken for a failure. @default 'periodic'
   */
  beats?: 'periodic' | 'all';
}

export class PhiAccrualDetector {
  private readonly intervals: number[] = [];
  private last: number | undefined;
  private lastSent: number | undefined;
  private readonly fromSender: boolean;
  private readonly periodicOnly: boolean;
  private readonly threshold: number;
  private readonly windowSize: number;
  private readonly minStdDevRatio: number;
  private readonly pauseRatio: number;

  /** @param expectedIntervalMs the sender's declared interval: the prior until intervals are observed */
  constructor(
    private expectedIntervalMs: number,
    options: PhiOptions = {},
  ) {
    const o = resolvePhiOptions(options);
    this.threshold = o.threshold;
    this.windowSize = o.windowSize;
    this.minStdDevRatio = o.minStdDevRatio;
    this.pauseRatio = o.acceptablePauseRatio;
    this.fromSender = o.intervalsFrom === 'sender';
    this.periodicOnly = o.beats === 'periodic';
  }

  /**
   * Records a heartbeat arrival.
   * @param sentAt the heartbeat's own timestamp (see PhiOptions.intervalsFrom)
   * @param periodic false for an extra heartbeat off the sender's rhythm (see PhiOptions.beats)
   */
  heartbeat(at: number, expectedIntervalMs?: number, sentAt?: number, periodic = true): void {
    if (expectedIntervalMs && expectedIntervalMs > 0) this.expectedIntervalMs = expectedIntervalMs;
    if (!periodic && this.periodicOnly) {
      this.last ??= at; // a node first heard of by an extra heartbeat is silent from then on
      return;
    }
    const [now, prev] = this.fromSender && sentAt !== undefined ? [sentAt, this.lastSent] : [at, this.last];
    if (prev !== undefined && now > prev) {
      this.intervals.push(now - prev);
      if (this.intervals.length > this.windowSize) this.intervals.shift();
    }
    this.last = at;
    if (sentAt !== undefined) this.lastSent = sentAt;
  }

  /** When the last heartbeat of the rhythm arrived (the silence is measured from it). */
  lastHeartbeat(): number | undefined {
    return this.last;
  }

  /** That heartbeat's own timestamp, when it carried one. */
  lastSentAt(): number | undefined {
    return this.lastSent;
  }

  /** The learned rhythm: mean and standard deviation (floored, as phi uses it) of the intervals, and how many were observed. */
  rhythm(): { meanMs: number; stdMs: number; samples: number } {
    // Two samples are not a distribution: until then the declared interval stands in.
    const samples = this.intervals.length >= 3 ? this.intervals : [this.expectedIntervalMs];
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
    const variance = samples.reduce((a, b) => a + (b - mean) ** 2, 0) / samples.length;
    return { meanMs: mean, stdMs: Math.max(Math.sqrt(variance), this.minStdDevRatio * mean, 1), samples: this.intervals.length };
  }

  /** The suspicion level now. */
  phi(now: number): number {
    if (this.last === undefined) return 0;
    return this.phiAfter(now - this.last);
  }

  private phiAfter(elapsed: number): number {
    const { meanMs: mean, stdMs: std } = this.rhythm();
    const y = (elapsed - mean * (1 + this.pauseRatio)) / std;
    // Logistic approximation of the normal tail (as Akka's and Cassandra's detectors use).
    const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
    const pLater = elapsed > mean * (1 + this.pauseRatio) ? e / (1 + e) : 1 - 1 / (1 + e);
    return pLater <= 0 ? Infinity : -Math.log10(pLater);
  }

  /** The silence (ms since the last heartbeat) at which the node is suspected, with the rhythm learned so far. */
  suspectAfterMs(): number {
    let [lo, hi] = [0, Math.max(1, this.rhythm().meanMs)];
    while (this.phiAfter(hi) < this.threshold) hi *= 2;
    while (hi - lo > 1) {
      const mid = (lo + hi) / 2;
      if (this.phiAfter(mid) >= this.threshold) hi = mid;
      else lo = mid;
    }
    return Math.ceil(hi);
  }

  suspect(now: number): boolean {
    return this.phi(now) >= this.threshold;
  }
}

/** Applied once at the boundary (STYLE.md habit 5); the `@default` tags say the same (test/unit/config/defaults.unit.test.ts checks). */
export const DEFAULT_PHI_OPTIONS: Readonly<Required<PhiOptions>> = Object.freeze({ threshold: 8, windowSize: 100, minStdDevRatio: 0.2, acceptablePauseRatio: 0.5, intervalsFrom: 'sender', beats: 'periodic' });

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
