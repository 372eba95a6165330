export { RegistryCodec } from './registry.js';
export type { Compatibility, DecodeOptions, RegistryCodecOptions } from './registry.js';
export { guardAvroBody, DEFAULT_AVRO_GUARD_LIMITS } from './avro-guard.js';
export type { AvroGuardLimits } from './avro-guard.js';
export { DecodeError, KeyDestroyedError, KeyError, SchemaError } from './errors.js';
