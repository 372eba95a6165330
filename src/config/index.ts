export { ENV, SERVER_VARIABLES, REQUIRED_SERVER_VARIABLES, DEFAULTS, readEnv, requireServers, parseBrokers, intVar } from './env.js';
export type { EnvConfig, KafkaSettings, MongoSettings, S3Settings, ServerSettings, MasterKeySource } from './env.js';
export { loadMasterKeys } from './keys.js';
