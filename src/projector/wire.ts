/** Headers of a DLQ record (the value is the original record's value). */
export const DLQ_HEADER = {
  reason: 'reason',
  detail: 'detail',
  topic: 'sourceTopic',
  partition: 'sourcePartition',
  offset: 'sourceOffset',
  eventId: 'eventId',
  version: 'version',
  rejectedAt: 'rejectedAt',
} as const;
