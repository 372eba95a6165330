import { LogMismatchError } from '../errors.js';

/**
 * A fold that would have to start at a partition's start offset when records
 * below it were deleted (the cap behind the backup, or `retention.ms`): the
 * heads it gives would be wrong, so the writer refuses rather than guess.
 */
export function historyGone(topic: string, partition: number, start: bigint, what: string): LogMismatchError {
  return new LogMismatchError(
    `cannot know the head of ${what}: ${topic} partition ${partition} starts at offset ${start} (older records were deleted) and the state topic has no usable state of it below the projector's committed offset. ` +
      'Let the projector catch up (its states come first), or check the state topic (docs/writer.md, "Where the fleet view starts")',
    { details: { topic, partition, start: start.toString() } },
  );
}
