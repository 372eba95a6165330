// The codecs' errors are defined in the library's one error module (src/errors.ts).
export { AuthenticationFailedError, DecodeError, KeyDestroyedError, KeyError, SchemaError } from '../errors.js';
