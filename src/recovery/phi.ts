/**
 * Phi-accrual failure detection (Hayashibara et al., 2004) over the observed
 * heartbeat intervals of one node: phi = -log10(P(a heartbeat comes later
 * than now)), with the intervals taken as normally distributed. The threshold
 * is on phi, so the silence it takes adapts to the node's own rhythm: a node
 * that heartbeats every second is suspected after about two silent seconds,
 * one that heartbeats every ten after about twenty.
 */
import { resolvePhiOptions } from './options.js';

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
}

export class PhiAccrualDetector {
  private readonly intervals: number[] = [];
  private last: number | undefined;
  private lastSent: number | undefined;
  private readonly fromSender: boolean;
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
  }

  /**
   * Records a heartbeat arrival.
   * @param sentAt the heartbeat's own timestamp (see PhiOptions.intervalsFrom)
   */
  heartbeat(at: number, expectedIntervalMs?: number, sentAt?: number): void {
    if (expectedIntervalMs && expectedIntervalMs > 0) this.expectedIntervalMs = expectedIntervalMs;
    const [now, prev] = this.fromSender && sentAt !== undefined ? [sentAt, this.lastSent] : [at, this.last];
    if (prev !== undefined && now > prev) {
      this.intervals.push(now - prev);
      if (this.intervals.length > this.windowSize) this.intervals.shift();
    }
    this.last = at;
    if (sentAt !== undefined) this.lastSent = sentAt;
  }

  lastHeartbeat(): number | undefined {
    return this.last;
  }

  /** The suspicion level now. */
  phi(now: number): number {
    if (this.last === undefined) return 0;
    // Two samples are not a distribution: until then the declared interval stands in.
    const samples = this.intervals.length >= 3 ? this.intervals : [this.expectedIntervalMs];
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
    const variance = samples.reduce((a, b) => a + (b - mean) ** 2, 0) / samples.length;
    const std = Math.max(Math.sqrt(variance), this.minStdDevRatio * mean, 1);
    const elapsed = now - this.last;
    const y = (elapsed - mean * (1 + this.pauseRatio)) / std;
    // Logistic approximation of the normal tail (as Akka's and Cassandra's detectors use).
    const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
    const pLater = elapsed > mean * (1 + this.pauseRatio) ? e / (1 + e) : 1 - 1 / (1 + e);
    return pLater <= 0 ? Infinity : -Math.log10(pLater);
  }

  suspect(now: number): boolean {
    return this.phi(now) >= this.threshold;
  }
}
