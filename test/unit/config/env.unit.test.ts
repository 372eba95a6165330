import { describe, expect, it } from 'vitest';
import { readEnv, requireServers } from '../../../src/config/index.js';
import { ConfigError } from '../../../src/errors.js';
import { loadConfig } from '../../../services/projector/config.js';

const FULL = {
  KAFKA_BROKERS: '127.0.0.1:19092, 10.0.0.2:9092',
  SCHEMA_REGISTRY_URL: 'http://127.0.0.1:18081/apis/ccompat/v7',
  MONGODB_URI: 'mongodb://127.0.0.1:27117/',
  AGENTSTATE_MONGO_DATABASE: 'fleet',
  S3_ENDPOINT: 'http://127.0.0.1:17070',
  S3_BUCKET: 'states',
  S3_ACCESS_KEY: 'ak',
  S3_SECRET_KEY: 'sk',
  REDIS_URL: 'redis://127.0.0.1:16379',
  AGENTSTATE_TOPIC_PREFIX: 'team-a.',
};

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('src/config: one reading of the environment', () => {
  it('an empty environment is the embedded profile with the defaults', () => {
    const c = readEnv({});
    expect(c).toEqual({ topicPrefix: 'agentstate.', kafka: undefined, mongo: undefined, s3: undefined, redisUrl: undefined, masterKeys: undefined, connectTimeoutMs: 15_000, serverVariablesSet: [] });
    expect(() => requireServers(c)).toThrow(/KAFKA_BROKERS, MONGODB_URI, S3_ENDPOINT, S3_BUCKET/);
  });

  it('AGENTSTATE_CONNECT_TIMEOUT_MS is a positive whole number of milliseconds', () => {
    expect(readEnv({ AGENTSTATE_CONNECT_TIMEOUT_MS: '2500' }).connectTimeoutMs).toBe(2500);
    for (const bad of ['0', '-1', '1.5', '15s']) expect(() => readEnv({ AGENTSTATE_CONNECT_TIMEOUT_MS: bad })).toThrow(/AGENTSTATE_CONNECT_TIMEOUT_MS/);
  });

  it('reads every server variable into typed settings', () => {
    const servers = requireServers(readEnv(FULL));
    expect(servers).toEqual({
      kafka: { brokers: ['127.0.0.1:19092', '10.0.0.2:9092'], schemaRegistryUrl: FULL.SCHEMA_REGISTRY_URL },
      mongo: { uri: FULL.MONGODB_URI, database: 'fleet' },
      s3: { endpoint: FULL.S3_ENDPOINT, bucket: 'states', accessKeyId: 'ak', secretAccessKey: 'sk' },
      redisUrl: FULL.REDIS_URL,
    });
    expect(readEnv(FULL).topicPrefix).toBe('team-a.');
  });

  it('half the server variables set is one ConfigError listing every missing one, and what is set', () => {
    const e = configError(() => requireServers(readEnv({ KAFKA_BROKERS: '127.0.0.1:19092', S3_ENDPOINT: 'http://s3:9000' })));
    expect(e.message).toContain('MONGODB_URI, S3_BUCKET');
    expect(e.message).toContain('only KAFKA_BROKERS, S3_ENDPOINT are set');
    expect(e.details).toEqual({ missing: ['MONGODB_URI', 'S3_BUCKET'], set: ['KAFKA_BROKERS', 'S3_ENDPOINT'] });
    expect(e.message).not.toContain('\n');
  });

  it('empty values count as unset', () => {
    expect(readEnv({ KAFKA_BROKERS: '', MONGODB_URI: '  ' }).serverVariablesSet).toEqual([]);
  });

  it.each([
    ['KAFKA_BROKERS', 'localhost', /KAFKA_BROKERS: "localhost" is not host:port/],
    ['KAFKA_BROKERS', 'a:99999', /KAFKA_BROKERS: "a:99999" is not host:port/],
    ['MONGODB_URI', 'http://x', /MONGODB_URI: "http:\/\/x" must start with mongodb:\/\/ or mongodb\+srv:\/\//],
    ['SCHEMA_REGISTRY_URL', 'not a url', /SCHEMA_REGISTRY_URL: "not a url" is not a URL/],
    ['S3_ENDPOINT', 'ftp://x', /S3_ENDPOINT/],
    ['REDIS_URL', 'http://x:6379', /REDIS_URL/],
    ['AGENTSTATE_TOPIC_PREFIX', 'a b', /AGENTSTATE_TOPIC_PREFIX/],
    ['S3_ACCESS_KEY', 'only-half', /S3_SECRET_KEY: is required when S3_ACCESS_KEY is set/],
  ])('a malformed %s is a ConfigError naming it', (name, value, message) => {
    expect(configError(() => readEnv({ [name]: value })).message).toMatch(message);
  });

  it('master keys: a file or an inline list, never both', () => {
    expect(readEnv({ AGENTSTATE_MASTER_KEYS_FILE: '/k.json' }).masterKeys).toEqual({ file: '/k.json' });
    expect(readEnv({ AGENTSTATE_MASTER_KEYS: 'k1:AAAA' }).masterKeys).toEqual({ inline: 'k1:AAAA' });
    expect(configError(() => readEnv({ AGENTSTATE_MASTER_KEYS_FILE: '/k.json', AGENTSTATE_MASTER_KEYS: 'k1:AAAA' })).message).toMatch(/AGENTSTATE_MASTER_KEYS/);
  });
});

describe('services/projector config on src/config', () => {
  it('maps the shared settings and keeps its own variables', () => {
    const c = loadConfig({ ...FULL, METRICS_PORT: '0', SNAPSHOT_EVERY_EVENTS: '7' }, ['--until-caught-up']);
    expect(c).toMatchObject({
      kafkaBrokers: ['127.0.0.1:19092', '10.0.0.2:9092'],
      mongoDatabase: 'fleet',
      s3: { endpoint: FULL.S3_ENDPOINT, bucket: 'states', accessKeyId: 'ak', secretAccessKey: 'sk', prefix: 'team-a.' },
      group: 'team-a.projector',
      metricsPort: 0,
      snapshots: { everyEvents: 7 },
      untilCaughtUp: true,
      ferretdbPostgresUrl: undefined,
    });
    // FerretDB on PostgreSQL: the service hands the PostgreSQL database to its store (indexes, counts, mirror rows).
    expect(loadConfig({ ...FULL, AGENTSTATE_FERRETDB_POSTGRES_URL: 'postgres://postgres@127.0.0.1:15432/ferretdb' }, []).ferretdbPostgresUrl).toBe('postgres://postgres@127.0.0.1:15432/ferretdb');
  });

  it('names what is missing', () => {
    expect(configError(() => loadConfig({ KAFKA_BROKERS: '127.0.0.1:1' }, [])).message).toMatch(/MONGODB_URI, S3_ENDPOINT, S3_BUCKET: missing/);
    expect(configError(() => loadConfig({ ...FULL, METRICS_PORT: '-1' }, [])).message).toMatch(/METRICS_PORT/);
  });
});
