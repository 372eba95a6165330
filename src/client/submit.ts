import type { Projection, StateEvent } from '../domain/index.js';
import { AgentStateError, TooLargeError, UnavailableError } from '../errors.js';
import type { EventCodec } from '../codec/event-codec.js';
import { ChangesetClaimCheck } from '../codec/changeset-blob.js';
import type { AppendBatcher } from './batcher.js';
import { buildEvent, eventRecord, type EventDraft } from './event-record.js';
import type { Outcome } from './tail.js';
import type { WriterView } from './view.js';

export type Submitted = (Outcome & { accept: false }) | { accept: true; projection: Projection; event: StateEvent };

/**
 * One event from draft to the log's decision: build and checksum it, encode,
 * check its size, append it with the other agents' events of the same tick,
 * and wait for the view's decision (DESIGN.md Invariant 3: an accepted
 * outcome means the projector will apply it).
 */
export class Submitter {
  constructor(
    private readonly o: {
      codec: EventCodec;
      batcher: AppendBatcher;
      view: WriterView;
      maxEventBytes: number;
      decisionTimeoutMs: number;
    },
  ) {}

  async submit(draft: EventDraft): Promise<Submitted> {
    const { event, expected } = buildEvent(draft);
    // A large changeset is claim-checked here (blob written before the append below),
    // or refused past the hard cap, when the codec has a blob store (ChangesetClaimCheck).
    const value = await this.o.codec.encode(event);
    // Checked before the batcher: an oversized record would fail the whole
    // produce request, and with it other agents' events in the same batch.
    if (value.length > this.o.maxEventBytes) {
      const hint = 'resolveChangeset' in this.o.codec ? 'its metadata or small changes are too large' : 'no blob store was given to claim-check its changeset';
      throw new TooLargeError(`${event.eventType} event for ${event.instanceId} (maxEventBytes; ${hint})`, value.length, this.o.maxEventBytes, { details: { limitName: 'maxEventBytes' } });
    }
    const pending = this.o.view.expect(event, expected);
    let appended;
    try {
      const claimed = this.o.codec instanceof ChangesetClaimCheck ? this.o.codec.claimedSizeDelta(value) : undefined;
      appended = await this.o.batcher.append(eventRecord(event, value, claimed));
    } catch (err) {
      // Not appended (or unknown): nothing will resolve the waiter.
      pending.abandon();
      if (err instanceof AgentStateError) throw err;
      throw new UnavailableError(`the event log (append of ${event.eventType} for ${event.instanceId} failed: ${(err as Error).message})`, {
        cause: err,
        retryable: true,
      });
    }
    const outcome = await this.withDecisionTimeout(pending.decided(appended), () => pending.abandon(), event);
    return outcome.accept ? { accept: true, projection: outcome.projection, event } : outcome;
  }

  /**
   * A decision that does not come back in time (the log view stalled) must
   * not hang the caller: the outcome is then unknown, and the view will still
   * apply the record if it landed.
   */
  private async withDecisionTimeout(decided: Promise<Outcome>, abandon: () => void, event: StateEvent): Promise<Outcome> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abandon();
        reject(
          new UnavailableError(`the log's decision on ${event.eventType} for ${event.instanceId} (none within ${this.o.decisionTimeoutMs} ms; its outcome is unknown)`, {
            retryable: true,
          }),
        );
      }, this.o.decisionTimeoutMs);
    });
    try {
      return await Promise.race([decided, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
