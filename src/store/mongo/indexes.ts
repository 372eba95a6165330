import type { IndexDescription } from 'mongodb';

/**
 * The store's indexes, per collection: the seed's `index_fields` of each
 * document (instanceId, version, timestamp, status; snapshots snapshotType;
 * events sequenceNumber, eventType), plus the compound ones our queries use
 * (docs/store.md).
 */
export const STORE_INDEXES: ReadonlyArray<readonly ['agent_states' | 'state_events' | 'state_snapshots', IndexDescription]> = [
  ['agent_states', { key: { instanceId: 1 }, name: 'instanceId' }],
  ['agent_states', { key: { version: 1 }, name: 'version' }],
  ['agent_states', { key: { timestamp: 1 }, name: 'timestamp' }],
  ['agent_states', { key: { status: 1 }, name: 'status' }],
  ['agent_states', { key: { agentType: 1 }, name: 'agentType' }],
  ['agent_states', { key: { capabilities: 1 }, name: 'capabilities' }],
  ['agent_states', { key: { lastModified: -1 }, name: 'lastModified' }],
  ['state_events', { key: { instanceId: 1, version: 1 }, name: 'instance_version', unique: true }],
  ['state_events', { key: { instanceId: 1, sequenceNumber: 1 }, name: 'instance_sequence' }],
  ['state_events', { key: { instanceId: 1, timestamp: 1 }, name: 'instance_timestamp' }],
  ['state_events', { key: { instanceId: 1, eventType: 1 }, name: 'instance_type' }],
  ['state_events', { key: { timestamp: 1 }, name: 'timestamp' }],
  ['state_events', { key: { eventType: 1 }, name: 'eventType' }],
  ['state_events', { key: { eventId: 1 }, name: 'eventId' }],
  ['state_snapshots', { key: { instanceId: 1, version: -1 }, name: 'instance_version' }],
  ['state_snapshots', { key: { instanceId: 1, timestamp: -1 }, name: 'instance_timestamp' }],
  ['state_snapshots', { key: { version: 1 }, name: 'version' }],
  ['state_snapshots', { key: { timestamp: 1 }, name: 'timestamp' }],
  ['state_snapshots', { key: { snapshotType: 1 }, name: 'snapshotType' }],
  ['state_snapshots', { key: { 'retentionPolicy.expiresAt': 1 }, name: 'expiresAt' }],
];
