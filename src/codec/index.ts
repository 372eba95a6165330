export { RegistryCodec } from './registry.js';
export type { Compatibility, DecodeOptions, RegistryCodecOptions } from './registry.js';
export { guardAvroBody, DEFAULT_AVRO_GUARD_LIMITS } from './avro-guard.js';
export type { AvroGuardLimits } from './avro-guard.js';
export { AuthenticationFailedError, DecodeError, KeyDestroyedError, KeyError, SchemaError } from './errors.js';
export {
  COMPRESSED_HEADER_SIZE,
  COMPRESSION_ALGORITHMS,
  compress,
  compressState,
  compressSync,
  decompress,
  decompressState,
  decompressSync,
  readCompressedHeader,
} from './compression.js';
export type { CompressedFrameHeader, CompressionAlgorithm, CompressionOptions, DecompressionLimits } from './compression.js';
export { benchmark, selectOptimal } from './compression-select.js';
export type { CompressionMeasurement, CompressionPolicy, SelectOptions } from './compression-select.js';
export { lz4Decode, lz4Encode } from './lz4.js';
export { SCHEMA_NAMES, TOPIC_SCHEMAS, loadSchema, registerAll, valueSubject } from './schemas.js';
export type { SchemaName } from './schemas.js';
export { changeFromWire, changeToWire, changesetFromJson, changesetToJson, eventFromWire, eventToWire } from './event-wire.js';
export type { WireChange, WireStateEvent } from './event-wire.js';
export { openFrame, readCipherHeader, sealFrame } from './cipher-frame.js';
export type { CipherFrameHeader } from './cipher-frame.js';
export { Keyring, keyIdFor } from './keyring.js';
export type { KeyringOptions } from './keyring.js';
export { KEY_BYTES, MasterKeySet } from './master-keys.js';
export { STATE_SECTIONS, stateFromWire, stateToWire } from './state-wire.js';
export type { ClaimCheck, StateHead, WireAgentState } from './state-wire.js';
export { describeBlob, openBlob, openState, sealBlob, sealState } from './blob-frame.js';
export type { BlobInfo, SealOptions } from './blob-frame.js';
