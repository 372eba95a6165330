import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AnomalyPublisher, bodyReader, jsonAnomaly, type AnalyticsStore, type BodyReader, type WireAnomaly } from '../analytics/index.js';
import { RegistryCodec } from '../codec/registry.js';
import { loadSchema, valueSubject } from '../codec/schemas.js';
import type { MongoSettings } from '../config/env.js';
import type { EventLog } from '../log/port.js';
import { topicNames } from '../log/topics.js';
import { AvroRuntimeWire, JsonRuntimeWire, type RuntimeWire } from '../runtime/wire.js';
import { MongoAnalyticsStore } from '../store/mongo/analytics.js';
import { MongoConnection } from '../store/mongo/connection.js';
import { SqliteAnalyticsStore } from '../store/sqlite/analytics.js';

/** What the analytics service and the analytics CLI commands need, for either profile. */
export interface OpenedAnalytics {
  store: AnalyticsStore;
  /** Event record values → decoded records (Avro via the registry when configured, JSON always). */
  read: BodyReader;
  /** Anomalies to `<prefix>anomalies`: Avro `Anomaly` with the registry, JSON without. */
  publisher: AnomalyPublisher;
  /** Decodes the runtime hosts' heartbeats (`<prefix>heartbeats`): Avro with the registry, JSON without. */
  heartbeats: Pick<RuntimeWire, 'decodeHeartbeat'>;
  close(): Promise<void>;
}

export type AnalyticsSettingsFor = { kind: 'embedded'; dataDir: string } | { kind: 'servers'; mongo: MongoSettings; schemaRegistryUrl: string | undefined };

/**
 * Opens the analytics store (SQLite `<data dir>/analytics.sqlite` embedded,
 * MongoDB `state_metrics` / `state_anomalies` on servers), the record reader
 * and the anomaly publisher on `log`.
 */
export async function openAnalytics(log: EventLog, prefix: string, settings: AnalyticsSettingsFor): Promise<OpenedAnalytics> {
  const topic = topicNames(prefix).anomalies;
  if (settings.kind === 'embedded') {
    const dir = resolve(settings.dataDir);
    mkdirSync(dir, { recursive: true });
    const store = new SqliteAnalyticsStore({ path: join(dir, 'analytics.sqlite') });
    await store.setup();
    return { store, read: bodyReader(), publisher: new AnomalyPublisher(log, topic, jsonAnomaly), heartbeats: new JsonRuntimeWire(), close: () => store.close() };
  }
  const connection = await MongoConnection.connect(settings.mongo);
  try {
    const store = new MongoAnalyticsStore(connection);
    await store.setup();
    let read = bodyReader();
    let encode: (wire: WireAnomaly) => Promise<Buffer> = jsonAnomaly;
    let heartbeats: Pick<RuntimeWire, 'decodeHeartbeat'> = new JsonRuntimeWire();
    if (settings.schemaRegistryUrl) {
      const registry = new RegistryCodec({ url: settings.schemaRegistryUrl });
      read = bodyReader((v) => registry.decode(v));
      heartbeats = new AvroRuntimeWire(registry, topicNames(prefix));
      let id: Promise<number> | undefined;
      encode = async (wire) => {
        id ??= registry.register(valueSubject(topic), loadSchema('Anomaly'), { compatibility: 'BACKWARD' });
        return registry.encode(await id, wire);
      };
    }
    return { store, read, publisher: new AnomalyPublisher(log, topic, encode), heartbeats, close: () => connection.close() };
  } catch (err) {
    await connection.close();
    throw err;
  }
}
